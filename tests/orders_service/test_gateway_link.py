"""The link to the gateway: checked at start-up (misconfiguration stops it, an outage does not) and
reported per dependency by `/readyz`. Against real gateway processes."""

from __future__ import annotations

import subprocess
import sys

import aiohttp
import pytest
from pydantic import SecretStr

from orders_service.app import create_app, gateway_client, gateway_link
from tests.conftest import GATEWAY_TOKEN, api_only_gateway
from tests.processes import ServiceProcess, free_port

OTHER_SECRET = "whsec_b3RoZXItc2VjcmV0LXRoYXQtZG9lcy1ub3QtbWF0Y2g="


@pytest.fixture(scope="module")
def gateway_without_secrets(database_server, tmp_path_factory):
    """A gateway that knows the orders token but has no webhook secret for it."""
    settings = {
        "GATEWAY_CALLERS": f"orders:{GATEWAY_TOKEN}",
        "GATEWAY_CALLBACK_ORIGINS": "http://127.0.0.1:8080",
        "GATEWAY_PLUGINS": "email",
    }
    workdir = tmp_path_factory.mktemp("gateway_without_secrets")
    with api_only_gateway(database_server, workdir, "gateway_without_secrets", settings) as service:
        yield service


async def _probe(settings):
    async with aiohttp.ClientSession() as session:
        return await gateway_link(gateway_client(session, settings), settings).probe()


async def test_a_well_configured_link_passes(orders_settings):
    state = await _probe(orders_settings)

    assert (state.reachable, state.token_accepted, state.misconfiguration) == (True, True, None)
    assert state.reason == "caller 'orders' accepted; channels: email, sms"


@pytest.mark.parametrize(
    ("update", "setting", "problem"),
    [
        (
            {"gateway_token": SecretStr("a-token-the-gateway-does-not-know")},
            "ORDERS_GATEWAY_TOKEN",
            "the gateway refused this service's token (401)",
        ),
        (
            {"webhook_secret": SecretStr(OTHER_SECRET)},
            "ORDERS_WEBHOOK_SECRET",
            "does not match the gateway's secret for caller 'orders'",
        ),
        (
            {"callback_url": "http://127.0.0.1:9999/webhooks/notifications"},
            "ORDERS_CALLBACK_URL",
            "its origin http://127.0.0.1:9999 is not among the gateway's GATEWAY_CALLBACK_ORIGINS",
        ),
    ],
)
async def test_a_misconfiguration_names_its_setting(orders_settings, update, setting, problem):
    state = await _probe(orders_settings.model_copy(update=update))

    assert state.misconfiguration.setting == setting
    assert state.misconfiguration.problem.startswith(problem)


async def test_a_gateway_without_our_secret_is_a_callback_misconfiguration(
    orders_settings, gateway_without_secrets
):
    settings = orders_settings.model_copy(update={"gateway_url": gateway_without_secrets.url})

    state = await _probe(settings)

    assert state.misconfiguration.setting == "ORDERS_CALLBACK_URL"
    assert "the gateway has no webhook secret for caller 'orders'" in state.misconfiguration.problem
    assert (await _probe(settings.model_copy(update={"callback_url": None}))).misconfiguration is None


async def test_a_gateway_that_is_down_is_no_misconfiguration(orders_settings):
    state = await _probe(orders_settings.model_copy(update={"gateway_url": "http://127.0.0.1:9"}))

    assert (state.reachable, state.token_accepted, state.misconfiguration) == (False, None, None)
    assert state.reason == "the gateway cannot be reached (ClientConnectorError)"


async def test_readiness_reports_each_dependency(client):
    response = await client.get("/readyz")

    assert response.status == 200
    report = await response.json()
    assert report["status"] == "ready"
    assert {name: (c["status"], c["required"]) for name, c in report["checks"].items()} == {
        "database": ("ok", True),
        "gateway": ("ok", False),
        "gateway_token": ("ok", True),
        "callbacks": ("ok", False),
    }
    assert report["checks"]["gateway"]["reason"] == "caller 'orders' accepted; channels: email, sms"


async def test_a_refused_token_makes_the_service_unready(aiohttp_client, orders_settings):
    settings = orders_settings.model_copy(
        update={"gateway_token": SecretStr("a-token-the-gateway-does-not-know")}
    )
    client = await aiohttp_client(create_app(settings))

    response = await client.get("/readyz")

    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    token = (await response.json())["checks"]["gateway_token"]
    assert token == {
        "status": "failing",
        "required": True,
        "reason": "the gateway refused this service's token (401)",
    }


async def test_a_gateway_that_is_down_leaves_the_service_ready(aiohttp_client, orders_settings):
    client = await aiohttp_client(
        create_app(orders_settings.model_copy(update={"gateway_url": "http://127.0.0.1:9"}))
    )

    response = await client.get("/readyz")

    assert response.status == 200
    checks = (await response.json())["checks"]
    assert checks["gateway"]["status"] == "failing"
    assert checks["gateway_token"]["status"] == "unknown"


def _serve(env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    port = free_port()
    return subprocess.run(
        [sys.executable, "-m", "orders_service", "serve"],
        env={"PATH": "/usr/bin:/bin", "ORDERS_PORT": str(port), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_start_up_stops_with_one_line_naming_the_setting(orders_settings, tmp_path):
    env = {
        "ORDERS_DATABASE_URL": orders_settings.database_url,
        "ADMIN_TOKEN": "x" * 32,
        "ORDERS_GATEWAY_URL": str(orders_settings.gateway_url),
        "ORDERS_GATEWAY_TOKEN": "a-token-the-gateway-does-not-know",
        "ORDERS_WEBHOOK_SECRET": orders_settings.webhook_secret.get_secret_value(),
    }

    result = _serve(env, tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "orders-service: ORDERS_GATEWAY_TOKEN: the gateway refused this service's token (401)"
    ]


async def test_a_gateway_that_is_down_does_not_stop_start_up(orders_settings, tmp_path):
    port = free_port()
    service = ServiceProcess(
        "orders_service",
        {
            "ORDERS_DATABASE_URL": orders_settings.database_url,
            "ORDERS_PORT": str(port),
            "ADMIN_TOKEN": "x" * 32,
            "ORDERS_GATEWAY_URL": "http://127.0.0.1:9",
            "ORDERS_GATEWAY_TOKEN": "y" * 32,
            "ORDERS_WEBHOOK_SECRET": orders_settings.webhook_secret.get_secret_value(),
        },
        port=port,
        log_path=tmp_path / "orders.log",
    )
    service.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{service.url}/readyz") as response:
            assert response.status == 200
            assert (await response.json())["checks"]["gateway"]["status"] == "failing"
    finally:
        service.stop()
    assert "gateway not reached at start-up" in (tmp_path / "orders.log").read_text()
