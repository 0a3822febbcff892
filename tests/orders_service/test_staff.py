"""Staff accounts: the CLI, argon2id hashes, the development seed, and sign-in checks."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from argon2 import Parameters, PasswordHasher, Type, extract_parameters

from orders_service import staff
from orders_service.lifecycle import StaffRole
from orders_service.models import SignInFailure, Staff
from orders_service.seed import DEV_STAFF_PASSWORD, seed_demo_staff
from tests.processes import _SERVICE_VARIABLES

LIMIT = staff.SignInLimit(max_failures=3, window_seconds=600)
PASSWORD = "correct horse battery staple"


def cli(database_url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_VARIABLES)}
    env |= {"APP_ENV": "development", "ORDERS_DATABASE_URL": database_url, "LOG_LEVEL": "WARNING"}
    return subprocess.run(
        [sys.executable, "-m", "orders_service", *args],
        input=stdin,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_adds_lists_and_disables_staff_reading_the_password_from_stdin(orders_database_url):
    added = cli(
        orders_database_url,
        *("staff", "add", "--email", "Lin@Example.com", "--name", "Lin", "--role", "support"),
        stdin=PASSWORD + "\n",
    )
    assert added.returncode == 0, added.stderr
    assert "added lin@example.com (support)" in added.stdout
    assert PASSWORD not in added.stdout + added.stderr

    listed = cli(orders_database_url, "staff", "list")
    assert listed.stdout.splitlines() == ["lin@example.com\tLin\tsupport\tenabled"]

    disabled = cli(orders_database_url, "staff", "disable", "--email", "lin@example.com")
    assert disabled.returncode == 0, disabled.stderr
    assert cli(orders_database_url, "staff", "list").stdout.endswith("\tdisabled\n")


def test_the_cli_takes_no_password_argument_and_refuses_short_ones(orders_database_url):
    as_argument = cli(
        orders_database_url,
        *("staff", "add", "--email", "a@example.com", "--name", "A", "--role", "admin"),
        *("--password", PASSWORD),
    )
    assert as_argument.returncode == 2
    assert "unrecognized arguments: --password" in as_argument.stderr

    short = cli(
        orders_database_url,
        *("staff", "add", "--email", "a@example.com", "--name", "A", "--role", "admin"),
        stdin="short\n",
    )
    assert short.returncode == 1
    assert "at least 12 characters" in short.stderr


async def test_passwords_are_stored_as_argon2id(client):
    member = await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)

    assert member.password_hash.startswith("$argon2id$")
    assert PASSWORD not in member.password_hash


async def test_hashes_use_owasp_minimum_parameters_and_older_ones_are_redone_at_sign_in(client):
    member = await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)
    assert extract_parameters(member.password_hash) == Parameters(
        type=Type.ID, version=19, salt_len=16, hash_len=32, time_cost=2, memory_cost=19 * 1024, parallelism=1
    )
    member.password_hash = PasswordHasher().hash(PASSWORD)  # argon2-cffi's default: 64 MiB, 3 passes
    await member.save(update_fields=["password_hash"])

    await staff.sign_in(email="a@example.com", password=PASSWORD, address="127.0.0.1", limit=LIMIT)

    stored = (await Staff.get(email="a@example.com")).password_hash
    assert extract_parameters(stored).memory_cost == 19 * 1024
    assert PasswordHasher().verify(stored, PASSWORD)


async def test_a_second_account_with_the_same_email_is_refused(client):
    await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)

    with pytest.raises(staff.StaffError, match="already exists"):
        await staff.add_staff(email="A@example.com", name="B", role=StaffRole.SUPPORT, password=PASSWORD)


async def test_the_development_seed_adds_two_accounts_once(client):
    assert await seed_demo_staff() == 2
    assert await seed_demo_staff() == 0

    admin = await staff.sign_in(
        email="admin@example.com", password=DEV_STAFF_PASSWORD, address="127.0.0.1", limit=LIMIT
    )
    assert admin.role is StaffRole.ADMIN
    assert admin.last_sign_in_at is not None


def test_seed_adds_no_staff_outside_development(orders_database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_VARIABLES)}
    env |= {
        "APP_ENV": "production",
        "ORDERS_DATABASE_URL": orders_database_url,
        "ADMIN_TOKEN": "a-production-admin-token-0123456789",
        "ORDERS_GATEWAY_TOKEN": "a-production-gateway-token-0123456789",
        "ORDERS_CALLBACK_URL": "",
    }
    seeded = subprocess.run(
        [sys.executable, "-m", "orders_service", "seed"], env=env, capture_output=True, text=True, timeout=60
    )
    assert seeded.returncode == 0, seeded.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "orders_service", "staff", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""


async def test_a_wrong_email_and_a_wrong_password_are_refused_alike(client):
    await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)

    with pytest.raises(staff.SignInRefused) as wrong_password:
        await staff.sign_in(email="a@example.com", password="nope", address="10.0.0.1", limit=LIMIT)
    with pytest.raises(staff.SignInRefused) as wrong_email:
        await staff.sign_in(email="b@example.com", password=PASSWORD, address="10.0.0.2", limit=LIMIT)

    assert wrong_password.value.detail == wrong_email.value.detail


async def test_a_disabled_account_cannot_sign_in(client):
    await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)
    await staff.disable_staff("a@example.com")

    with pytest.raises(staff.SignInRefused):
        await staff.sign_in(email="a@example.com", password=PASSWORD, address="10.0.0.1", limit=LIMIT)


async def test_failures_are_limited_per_account_whatever_the_address(client):
    await staff.add_staff(email="a@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)
    for n in range(LIMIT.max_failures):
        with pytest.raises(staff.SignInRefused):
            await staff.sign_in(email="a@example.com", password="nope", address=f"10.0.0.{n}", limit=LIMIT)

    with pytest.raises(staff.TooManySignIns) as limited:
        await staff.sign_in(email="a@example.com", password=PASSWORD, address="10.9.9.9", limit=LIMIT)

    assert 1 <= limited.value.retry_after <= LIMIT.window_seconds


async def test_failures_are_limited_per_address_whatever_the_account(client):
    for n in range(LIMIT.max_failures):
        with pytest.raises(staff.SignInRefused):
            await staff.sign_in(email=f"x{n}@example.com", password="nope", address="10.0.0.1", limit=LIMIT)

    with pytest.raises(staff.TooManySignIns):
        await staff.sign_in(email="new@example.com", password="nope", address="10.0.0.1", limit=LIMIT)
    assert await SignInFailure.filter(key="address:10.0.0.1").count() == LIMIT.max_failures
    assert await Staff.all().count() == 0
