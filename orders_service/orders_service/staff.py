"""Staff accounts: adding, disabling and listing them, and checking a sign-in.

Passwords are hashed with argon2id at OWASP's recommended minimum (19 MiB,
2 passes, 1 lane) rather than argon2-cffi's 64 MiB default: every sign-in
allocates that memory, and the service's whole budget is 120 MiB. Hashing runs in
a thread, so a sign-in never stalls other requests. Hashes made with other
parameters are redone at the next sign-in. Failed sign-ins are counted in the database, per client
address and per account, so every replica sees the same count; past the limit a
sign-in is refused before the password is checked. A refusal never says whether
the e-mail or the password was wrong.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError

from apikit.errors import DomainError
from orders_service.contacts import normalize_email
from orders_service.lifecycle import StaffRole
from orders_service.models import SignInFailure, Staff

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@cache
def _dummy_hash() -> str:
    """Checked when no account matches, so an unknown e-mail takes as long as a wrong password."""
    return _hasher.hash("not-a-password-of-anyone")


class StaffError(DomainError):
    """A staff account cannot be added or changed as asked."""


class SignInRefused(DomainError):
    """The e-mail and password do not match an enabled account (which of them is not said)."""


class TooManySignIns(DomainError):
    """Too many failed sign-ins from this address or for this account; `retry_after` says when."""


@dataclass(frozen=True)
class SignInLimit:
    max_failures: int
    window_seconds: int


async def add_staff(*, email: str, name: str, role: StaffRole, password: str) -> Staff:
    try:
        address = normalize_email(email).lower()
    except ValueError as exc:
        raise StaffError(f"The e-mail address is not valid: {exc}") from None
    if not name.strip():
        raise StaffError("The name must not be empty.")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    try:
        return await Staff.create(
            email=address,
            name=name.strip(),
            role=role,
            password_hash=await asyncio.to_thread(_hasher.hash, password),
        )
    except IntegrityError:
        raise StaffError(f"A staff account for {address} already exists.") from None


async def disable_staff(email: str) -> Staff:
    """Disable the account and end its sessions; it stays, because orders name it."""
    staff = await Staff.get_or_none(email=email.strip().lower())
    if staff is None:
        raise StaffError(f"No staff account has the e-mail {email!r}.")
    staff.disabled = True
    await staff.save(update_fields=["disabled"])
    await staff.sessions.all().delete()
    return staff


async def list_staff() -> list[Staff]:
    return await Staff.all().order_by("email")


async def sign_in(*, email: str, password: str, address: str, limit: SignInLimit) -> Staff:
    """The enabled account these credentials open, else SignInRefused or TooManySignIns."""
    account = email.strip().lower()[:254]
    keys = [f"address:{address}"[:300], f"account:{account}"[:300]]
    now = datetime.now(UTC)
    await _refuse_if_limited(keys, now, limit)
    staff = await Staff.get_or_none(email=account, disabled=False)
    encoded = staff.password_hash if staff else await asyncio.to_thread(_dummy_hash)
    if not await asyncio.to_thread(_password_matches, encoded, password) or staff is None:
        await SignInFailure.bulk_create([SignInFailure(key=key, failed_at=now) for key in keys])
        raise SignInRefused("The e-mail address or password is not right.", pointer="#/password")
    staff.last_sign_in_at = now
    update = ["last_sign_in_at"]
    if _hasher.check_needs_rehash(staff.password_hash):
        staff.password_hash = await asyncio.to_thread(_hasher.hash, password)
        update.append("password_hash")
    await staff.save(update_fields=update)
    return staff


def _password_matches(encoded: str, password: str) -> bool:
    try:
        return _hasher.verify(encoded, password)
    except (VerificationError, InvalidHashError):
        return False


async def _refuse_if_limited(keys: list[str], now: datetime, limit: SignInLimit) -> None:
    since = now - timedelta(seconds=limit.window_seconds)
    for key in keys:
        failures = (
            await SignInFailure.filter(key=key, failed_at__gt=since)
            .order_by("-failed_at")
            .limit(limit.max_failures)
            .values_list("failed_at", flat=True)
        )
        if len(failures) >= limit.max_failures:
            oldest_counted = min(failures)
            wait = (oldest_counted + timedelta(seconds=limit.window_seconds) - now).total_seconds()
            raise TooManySignIns(
                "Too many failed sign-ins; try again later.", retry_after=max(1, math.ceil(wait))
            )
