"""docker-compose.yml and .env.example agree with the settings classes (no Docker engine runs here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from notification_gateway.settings import GatewaySettings
from orders_service.settings import OrdersSettings
from provider_sandbox.settings import VARIABLES as SANDBOX_SETTINGS

ROOT = Path(__file__).parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]

PLUGIN_VARIABLES = {
    f"{p}_{s}"
    for p in ("EMAIL", "SMS", "PUSH")
    for s in ("API_URL", "API_TOKEN", "TIMEOUT_SECONDS", "RECEIPT_SECRET")
}
SANDBOX_VARIABLES = set(SANDBOX_SETTINGS)


def _aliases(settings: type) -> set[str]:
    return {field.alias for field in settings.model_fields.values()}


ORDERS_VARIABLES = _aliases(OrdersSettings)
GATEWAY_VARIABLES = _aliases(GatewaySettings)
KNOWN = ORDERS_VARIABLES | GATEWAY_VARIABLES | PLUGIN_VARIABLES | SANDBOX_VARIABLES


@pytest.mark.parametrize(
    ("service", "port", "variables", "command"),
    [
        ("orders", 8080, ORDERS_VARIABLES, "orders-service migrate && exec orders-service serve"),
        (
            "gateway",
            8081,
            GATEWAY_VARIABLES,
            "notification-gateway migrate && exec notification-gateway serve",
        ),
    ],
)
def test_each_service_migrates_then_serves_on_its_port_with_known_settings(service, port, variables, command):
    spec = SERVICES[service]

    assert command in " ".join(spec["command"])
    assert spec["ports"] == [f"{port}:{port}"]
    assert spec["env_file"] == ".env"
    assert set(spec["environment"]) <= variables
    host = next(name for name in spec["environment"] if name.endswith("_HOST"))
    assert spec["environment"][host] == "0.0.0.0"  # noqa: S104 - inside its container
    assert str(port) in spec["healthcheck"]["test"][-1]
    assert "/readyz" in spec["healthcheck"]["test"][-1]


def test_services_start_in_dependency_order():
    assert SERVICES["gateway"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert SERVICES["orders"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "gateway": {"condition": "service_healthy"},
    }
    assert "pg_isready" in " ".join(SERVICES["postgres"]["healthcheck"]["test"])


def test_each_service_has_its_own_postgresql_database():
    orders = SERVICES["orders"]["environment"]["ORDERS_DATABASE_URL"]
    gateway = SERVICES["gateway"]["environment"]["GATEWAY_DATABASE_URL"]

    assert orders.startswith("postgres://")
    assert gateway.startswith("postgres://")
    assert orders.rsplit("/", 1)[1] != gateway.rsplit("/", 1)[1]
    assert "CREATE DATABASE gateway" in (ROOT / "deploy/postgres-init.sql").read_text()


def test_the_services_find_each_other_by_name():
    orders = SERVICES["orders"]["environment"]
    gateway = SERVICES["gateway"]["environment"]

    assert orders["ORDERS_GATEWAY_URL"] == "http://gateway:8081"
    assert orders["ORDERS_CALLBACK_URL"].startswith(gateway["GATEWAY_CALLBACK_ORIGINS"])


def test_the_sandbox_runs_only_in_the_dev_profile():
    sandbox = SERVICES["sandbox"]

    assert sandbox["profiles"] == ["dev"]
    assert set(sandbox["environment"]) <= SANDBOX_VARIABLES
    assert "/healthz" in sandbox["healthcheck"]["test"][-1]


def test_no_secret_is_written_into_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()

    assert "${POSTGRES_PASSWORD" in text
    assert not re.search(r"(TOKEN|SECRET)\s*:\s*\S", text)


def test_env_example_lists_every_setting_and_only_real_ones():
    listed = {
        line.lstrip("#").split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^#?[A-Z][A-Z0-9_]+=", line)
    }

    assert listed >= ORDERS_VARIABLES | GATEWAY_VARIABLES | PLUGIN_VARIABLES | SANDBOX_VARIABLES
    assert listed - {"POSTGRES_PASSWORD"} <= KNOWN
