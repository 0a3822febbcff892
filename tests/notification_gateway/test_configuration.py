"""Gateway start-up configuration."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from tortoise import connections

from notification_gateway.settings import POOL_HEADROOM, GatewaySettings

STRONG = "a-production-token-0123456789"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in (
        "APP_ENV",
        "GATEWAY_TOKEN",
        "GATEWAY_CALLERS",
        "GATEWAY_PLUGINS",
        "GATEWAY_RATE_LIMIT",
        "GATEWAY_OPERATOR_TOKEN",
        "GATEWAY_OPERATORS",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATEWAY_SUPPRESSION_KEY", "a-suppression-key-0123456789")


def test_production_needs_a_caller_token():
    with pytest.raises(ValueError, match="GATEWAY_TOKEN or GATEWAY_CALLERS must be set"):
        GatewaySettings()


def test_development_uses_the_documented_token():
    registry = GatewaySettings(APP_ENV="development").token_registry()

    assert registry.authenticate("dev-gateway-token").name == "default"


def test_each_calling_service_has_its_own_token():
    settings = GatewaySettings(
        GATEWAY_CALLERS=f"orders:{STRONG}-a, marketing:{STRONG}-b", GATEWAY_TOKEN=STRONG
    )
    registry = settings.token_registry()

    assert registry.authenticate(f"{STRONG}-a").name == "orders"
    assert registry.authenticate(f"{STRONG}-b").name == "marketing"
    assert registry.authenticate(STRONG).name == "default"
    assert STRONG not in repr(settings)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"GATEWAY_CALLERS": "orders"}, "GATEWAY_CALLERS must list name:token pairs"),
        ({"GATEWAY_TOKEN": "short"}, "at least 24 characters"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_RATE_LIMIT": "lots"}, "100/second"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_ROUTING_FILE": "/nonexistent.toml"}, "no routing rules file"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_DELIVERY_CONCURRENCY": "0"}, "greater than or equal to 1"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_SUPPRESSION_KEY": ""}, "GATEWAY_SUPPRESSION_KEY must be set"),
        (
            {"GATEWAY_TOKEN": STRONG, "GATEWAY_SUPPRESSION_KEY": "short"},
            "GATEWAY_SUPPRESSION_KEY must be set",
        ),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_OPERATOR_TOKEN": "short"}, "OPERATOR_TOKEN and GATEWAY_OP"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_OPERATORS": "ann:short"}, "GATEWAY_OPERATORS tokens must be at"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_OPERATORS": STRONG}, "GATEWAY_OPERATORS must list name:token"),
        ({"APP_ENV": "development", "GATEWAY_CALLERS": "orders"}, "GATEWAY_CALLERS must list name:token"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_SUPPRESS_AFTER_UNDELIVERED": "0"}, "greater than or equal to 1"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_BREAKERS": "sms=5"}, r"\*=5/60s,sms=3/30s \('sms=5' is not"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_BREAKERS": "sms=0/60s"}, "at least 1 failure"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_BREAKER_COOLDOWN_SECONDS": "0"}, "greater than 0"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_SEND_RATES": "sms=fast"}, "sms=30/second,email=100/minute"),
        ({"GATEWAY_TOKEN": STRONG, "GATEWAY_DATABASE_POOL_SIZE": "1"}, "greater than or equal to 2"),
        (
            {
                "GATEWAY_TOKEN": STRONG,
                "GATEWAY_DATABASE_URL": "postgres://gateway@db:5432/gateway?maxsize=10",
                "GATEWAY_DATABASE_POOL_SIZE": "40",
            },
            "GATEWAY_DATABASE_POOL_SIZE and maxsize= in GATEWAY_DATABASE_URL both size the pool",
        ),
    ],
)
def test_bad_settings_are_refused_with_a_reason(monkeypatch, variables, message):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(ValueError, match=message):
        GatewaySettings()


def test_operators_have_their_own_token_and_role():
    registry = GatewaySettings(GATEWAY_TOKEN=STRONG, GATEWAY_OPERATOR_TOKEN=f"{STRONG}-op").token_registry()

    operator = registry.authenticate(f"{STRONG}-op")
    assert (operator.name, operator.roles) == ("operator", frozenset({"operator"}))
    assert registry.authenticate(STRONG).roles == frozenset({"caller"})
    assert GatewaySettings(GATEWAY_TOKEN=STRONG).token_registry().authenticate("dev-operator-token") is None
    development = GatewaySettings(APP_ENV="development").token_registry()
    assert development.authenticate("dev-operator-token").name == "operator"


def test_each_operator_may_have_a_name_of_their_own():
    registry = GatewaySettings(
        GATEWAY_TOKEN=STRONG, GATEWAY_OPERATORS=f"ann:{STRONG}-ann, bo:{STRONG}-bo"
    ).token_registry()

    ann, bo = registry.authenticate(f"{STRONG}-ann"), registry.authenticate(f"{STRONG}-bo")
    assert (ann.name, ann.roles) == ("ann", frozenset({"operator"}))
    assert (bo.name, bo.roles) == ("bo", frozenset({"operator"}))
    named_only = GatewaySettings(APP_ENV="development", GATEWAY_OPERATORS=f"ann:{STRONG}").token_registry()
    assert named_only.authenticate("dev-operator-token") is None


def test_breakers_and_rates_are_read_per_channel():
    config = GatewaySettings(
        GATEWAY_TOKEN=STRONG,
        GATEWAY_BREAKERS="*=5/1m, sms=3/30s",
        GATEWAY_SEND_RATES="sms=30/second,email=10/minute",
        GATEWAY_BREAKER_COOLDOWN_SECONDS="12",
    ).flow_config()

    assert (config.breaker("sms").failures, config.breaker("sms").window.total_seconds()) == (3, 30)
    assert (config.breaker("push").failures, config.breaker("push").window.total_seconds()) == (5, 60)
    assert config.rates["sms"].interval == timedelta(microseconds=33334)  # never faster than asked
    assert config.rates["email"].interval.total_seconds() == 6
    assert config.cooldown.total_seconds() == 12
    assert GatewaySettings(GATEWAY_TOKEN=STRONG, GATEWAY_BREAKERS="").flow_config().breaker("sms") is None


@pytest.mark.parametrize(
    ("value", "allowed"), [(None, None), ("", frozenset()), ("email, sms", {"email", "sms"})]
)
def test_the_plugin_allow_list(value, allowed):
    settings = (
        GatewaySettings(APP_ENV="development", GATEWAY_PLUGINS=value)
        if value is not None
        else (GatewaySettings(APP_ENV="development"))
    )

    assert settings.allowed_plugins() == allowed


def test_the_cli_names_a_plugin_setting_that_is_missing(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "development",
        "GATEWAY_DATABASE_URL": f"sqlite://{tmp_path}/g.sqlite3",
        "GATEWAY_PLUGINS": "email",
    }

    result = subprocess.run(
        [sys.executable, "-m", "notification_gateway", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "EMAIL_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("variables", "url"),
    [
        (
            {"GATEWAY_DATABASE_URL": "postgres://gateway@db:5432/gateway"},
            "postgres://gateway@db:5432/gateway?maxsize=40",
        ),
        (
            {
                "GATEWAY_DATABASE_URL": "postgres://gateway@db:5432/gateway?ssl=require",
                "GATEWAY_DELIVERY_CONCURRENCY": "8",
            },
            "postgres://gateway@db:5432/gateway?ssl=require&maxsize=16",
        ),
        (
            {
                "GATEWAY_DATABASE_URL": "postgres://gateway@db:5432/gateway",
                "GATEWAY_DATABASE_POOL_SIZE": "20",
            },
            "postgres://gateway@db:5432/gateway?maxsize=20",
        ),
        (
            {"GATEWAY_DATABASE_URL": "postgres://gateway@db:5432/gateway?maxsize=10"},
            "postgres://gateway@db:5432/gateway?maxsize=10",
        ),
        (
            {"GATEWAY_DATABASE_URL": "sqlite://var/gateway.sqlite3", "GATEWAY_DATABASE_POOL_SIZE": "20"},
            "sqlite://var/gateway.sqlite3",
        ),
    ],
)
def test_the_postgresql_pool_is_sized_for_the_sends_in_flight(monkeypatch, variables, url):
    monkeypatch.setenv("GATEWAY_TOKEN", STRONG)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)

    assert GatewaySettings().pooled_database_url() == url


async def test_the_gateway_opens_its_pool_at_that_size(client, database_server):
    """On PostgreSQL the running gateway's pool holds a connection per send in flight and the
    headroom; SQLite has its one connection and no pool."""
    opened = connections.get("default")

    if database_server.kind == "postgres":
        assert opened.pool_maxsize == 32 + POOL_HEADROOM
    else:
        assert not hasattr(opened, "pool_maxsize")
