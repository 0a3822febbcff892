"""Schemathesis against each service's own /openapi.json, every check on, zero failures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from orders_service.db import orders_tortoise_config
from tests.conftest import GATEWAY_TOKEN, WEBHOOK_SECRET, api_only_gateway
from tests.processes import ServiceProcess, free_port

CONFIG = Path(__file__).with_name("schemathesis.toml")
ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"
FUZZ_GATEWAY_TOKEN = "fuzz-gateway-token-0123456789abcdef"

pytestmark = pytest.mark.slow


@pytest.fixture
def orders_process(database_server, tmp_path, gateway_process):
    url = database_server.database_url("orders", orders_tortoise_config, tmp_path)
    service = ServiceProcess(
        "orders_service",
        {
            "ORDERS_DATABASE_URL": url,
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "ORDERS_PORT": str(free_port()),
            "ORDERS_RATE_LIMIT": "100000/second",
            "ORDERS_GATEWAY_URL": gateway_process.url,
            "ORDERS_GATEWAY_TOKEN": GATEWAY_TOKEN,
            "ORDERS_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ORDERS_RELAY_ENABLED": "false",
        },
        port=0,
        log_path=tmp_path / "orders.log",
    )
    service.port = int(service.env["ORDERS_PORT"])
    service.run("seed")
    service.start()
    yield service
    service.stop()


def _schemathesis(url: str, token: str, tmp_path: Path) -> subprocess.CompletedProcess:
    st = Path(sys.executable).with_name("st")
    return subprocess.run(
        [
            str(st),
            "--config-file",
            str(CONFIG),
            "run",
            f"{url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {token}",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--workers",
            "1",
            "--seed",
            "1",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_orders_api_conforms_to_its_own_spec(orders_process, tmp_path):
    result = _schemathesis(orders_process.url, ADMIN_TOKEN, tmp_path)

    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


@pytest.fixture
def gateway_fuzz_process(database_server, tmp_path):
    """Workers off: the fuzzer checks the HTTP contract, not deliveries to an absent provider."""
    with api_only_gateway(
        database_server, tmp_path, "gateway", {"GATEWAY_TOKEN": FUZZ_GATEWAY_TOKEN}
    ) as service:
        yield service


def test_gateway_api_conforms_to_its_own_spec(gateway_fuzz_process, tmp_path):
    result = _schemathesis(gateway_fuzz_process.url, FUZZ_GATEWAY_TOKEN, tmp_path)

    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
