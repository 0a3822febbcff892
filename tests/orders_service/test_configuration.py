"""Start-up configuration: production refuses weak or missing tokens; mistakes are named clearly."""

from __future__ import annotations

import subprocess
import sys

import pytest

from apikit.settings import load_settings
from orders_service.settings import OrdersSettings

STRONG = "a-production-token-0123456789"
REQUIRED = {
    "ORDERS_GATEWAY_TOKEN": f"{STRONG}-gateway",
    "ORDERS_WEBHOOK_SECRET": "whsec_c2VjcmV0LXNlY3JldA==",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "APP_ENV",
        "ADMIN_TOKEN",
        "SUPPORT_TOKEN",
        "ORDERS_PORT",
        "ORDERS_DATABASE_URL",
        "ORDERS_GATEWAY_TOKEN",
        "ORDERS_WEBHOOK_SECRET",
        "ORDERS_CALLBACK_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_production_is_the_default_and_needs_an_admin_token():
    with pytest.raises(ValueError, match="ADMIN_TOKEN must be set"):
        OrdersSettings()


def test_production_refuses_short_tokens():
    with pytest.raises(ValueError, match="at least 24 characters"):
        OrdersSettings(ADMIN_TOKEN="short")


def test_development_fills_in_the_documented_tokens():
    registry = OrdersSettings(APP_ENV="development").token_registry()

    assert registry.authenticate("dev-admin-token").roles == {"admin"}
    assert registry.authenticate("dev-support-token").roles == {"support"}


def test_tokens_can_be_rotated_by_listing_two(monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", f"{STRONG}, {STRONG}-next")

    registry = OrdersSettings(**REQUIRED).token_registry()

    assert registry.authenticate(STRONG).name == "admin-1"
    assert registry.authenticate(f"{STRONG}-next").name == "admin-2"
    assert registry.authenticate("dev-admin-token") is None


def test_tokens_are_not_shown_in_the_settings_repr():
    settings = OrdersSettings(ADMIN_TOKEN=STRONG, **REQUIRED)

    assert STRONG not in repr(settings)
    assert REQUIRED["ORDERS_WEBHOOK_SECRET"] not in repr(settings)
    assert STRONG not in str(settings.model_dump())


def test_production_needs_a_gateway_token_and_a_webhook_secret():
    with pytest.raises(ValueError, match="ORDERS_GATEWAY_TOKEN must be set"):
        OrdersSettings(ADMIN_TOKEN=STRONG)
    with pytest.raises(ValueError, match="ORDERS_WEBHOOK_SECRET must be set"):
        OrdersSettings(ADMIN_TOKEN=STRONG, ORDERS_GATEWAY_TOKEN=f"{STRONG}-gateway")

    without_callbacks = OrdersSettings(
        ADMIN_TOKEN=STRONG, ORDERS_GATEWAY_TOKEN=f"{STRONG}-g", ORDERS_CALLBACK_URL=""
    )

    assert without_callbacks.callback_url is None


def test_a_malformed_value_exits_with_the_variable_named(monkeypatch, capsys):
    monkeypatch.setenv("ORDERS_PORT", "eighty")
    monkeypatch.setenv("ADMIN_TOKEN", STRONG)

    with pytest.raises(SystemExit) as exited:
        load_settings(OrdersSettings, "orders-service")

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "orders-service: the configuration is not valid:" in err
    assert "ORDERS_PORT" in err


def test_the_cli_refuses_to_serve_without_tokens(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "ORDERS_DATABASE_URL": f"sqlite://{tmp_path}/x.sqlite3"}

    result = subprocess.run(
        [sys.executable, "-m", "orders_service", "serve"], env=env, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert "ADMIN_TOKEN must be set outside development" in result.stderr
    assert "Traceback" not in result.stderr
