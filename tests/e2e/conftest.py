"""End-to-end: the gateway and the provider sandbox as real processes on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from notification_gateway.db import gateway_tortoise_config
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

GATEWAY_TOKEN = "e2e-gateway-token-0123456789abcdef"
CALLER = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}
EMAIL_PATH = "/dev/home-test/email-delivery-service"
SMS_PATH = "/dev/home-test/sms-delivery-service"
WAIT_SECONDS = 60.0


async def wait_until(check: Callable[[], Awaitable[bool]], what: str, within: float = WAIT_SECONDS) -> None:
    """Poll `check` until it holds; fail saying `what` did not happen. A bound, not a benchmark."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


#: The sandbox's development keys (its defaults), which the gateway needs to read receipts.
RECEIPT_SECRETS = {
    "EMAIL_RECEIPT_SECRET": "dev-email-receipt-secret",
    "SMS_RECEIPT_SECRET": "dev-sms-receipt-secret",
    "PUSH_RECEIPT_SECRET": "dev-push-receipt-secret",
}


@pytest.fixture
def receipts_port() -> int:
    """Where the sandbox sends receipts and inbound messages: the `System`'s gateway listens there."""
    return free_port()


@pytest.fixture
def sandbox(tmp_path, receipts_port):
    gateway = f"http://127.0.0.1:{receipts_port}"
    service = ServiceProcess(
        "provider_sandbox",
        {
            "PROVIDER_SANDBOX_PORT": "0",
            "SANDBOX_RECEIPTS_URL": f"{gateway}/receipts",
            "SANDBOX_INBOUND_URL": f"{gateway}/inbound",
            "SANDBOX_RECEIPT_DELAY_MS": "100",
            "SANDBOX_RECEIPT_RETRY_BASE_MS": "100",
        },
        port=free_port(),
        log_path=tmp_path / "sandbox.log",
    )
    service.env["PROVIDER_SANDBOX_PORT"] = str(service.port)
    service.start()
    yield service
    service.stop()


@pytest.fixture
def gateway_env(database_server, tmp_path, sandbox) -> dict[str, str]:
    return {
        "GATEWAY_DATABASE_URL": database_server.database_url("gateway", gateway_tortoise_config, tmp_path),
        "GATEWAY_TOKEN": GATEWAY_TOKEN,
        "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
        "GATEWAY_PLUGINS": "email,sms",
        "GATEWAY_RATE_LIMIT": "100000/second",
        "GATEWAY_RECIPIENT_LIMITS": "",  # load tests send many SMS to one number
        "GATEWAY_RETRY_BASE_SECONDS": "0.05",
        "GATEWAY_RETRY_MAX_SECONDS": "0.5",
        "GATEWAY_POLL_SECONDS": "0.05",
        "GATEWAY_LEASE_SECONDS": "3",
        "EMAIL_API_URL": sandbox.url + EMAIL_PATH,
        "EMAIL_API_TOKEN": "dev-email-token",
        "EMAIL_TIMEOUT_SECONDS": "2",
        "SMS_API_URL": sandbox.url + SMS_PATH,
        "SMS_API_TOKEN": "dev-sms-token",
        "SMS_TIMEOUT_SECONDS": "2",
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def start_gateway(gateway_env, tmp_path):
    """Start a gateway process (several may share the database); all are stopped afterwards."""
    started: list[ServiceProcess] = []

    def start(**overrides: str) -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(
            "notification_gateway",
            gateway_env | {"GATEWAY_PORT": str(port)} | overrides,
            port=port,
            log_path=tmp_path / f"gateway-{len(started)}.log",
        )
        started.append(service)
        service.start()
        return service

    yield start
    for service in started:
        service.stop()


class Sandbox:
    """Reads and steers the sandbox over its control API."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def messages(self, channel: str) -> list[dict]:
        async with self.http.get(f"{self.url}/_sandbox/messages", params={"channel": channel}) as response:
            return (await response.json())["data"]

    async def requests(self, channel: str) -> list[dict]:
        async with self.http.get(f"{self.url}/_sandbox/requests", params={"channel": channel}) as response:
            return (await response.json())["data"]

    async def faults(self, channel: str, **plan) -> None:
        async with self.http.put(f"{self.url}/_sandbox/faults/{channel}", json=plan) as response:
            assert response.status == 200, await response.text()

    async def reply(self, channel: str, sender: str, text: str) -> None:
        """`sender` texts `text` to the service; the sandbox passes it on to the gateway, signed, soon."""
        body = {"channel": channel, "from": sender, "text": text}
        async with self.http.post(f"{self.url}/_sandbox/inbound", json=body) as response:
            assert response.status == 202, await response.text()


@pytest.fixture
def provider(http, sandbox) -> Sandbox:
    return Sandbox(http, sandbox.url)


ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
CALLER_TOKEN = "e2e-orders-caller-token-0123456789"
SECRET = "whsec_ZTJlLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3ODk="
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SHIPPING = {
    "recipient_name": "Ada Lovelace",
    "address_lines": ["12 Example Street"],
    "city": "London",
    "postcode": "N1 9GU",
    "country": "GB",
}


class System:
    """Starts and stops the three services on loopback, sharing what they must know of each other."""

    def __init__(self, database_server, tmp_path, sandbox, gateway_port: int | None = None) -> None:
        self.sandbox = sandbox
        self.orders_port, self.gateway_port = free_port(), gateway_port or free_port()
        self.gateway = ServiceProcess(
            "notification_gateway",
            {
                "GATEWAY_DATABASE_URL": database_server.database_url(
                    "gateway", gateway_tortoise_config, tmp_path
                ),
                "GATEWAY_PORT": str(self.gateway_port),
                "GATEWAY_CALLERS": f"orders:{CALLER_TOKEN}",
                "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
                "GATEWAY_WEBHOOK_SECRETS": f"orders:{SECRET}",
                "GATEWAY_CALLBACK_ORIGINS": f"http://127.0.0.1:{self.orders_port}",
                "GATEWAY_RATE_LIMIT": "100000/second",
                "GATEWAY_RECIPIENT_LIMITS": "",  # load tests send many SMS to one number
                "GATEWAY_RETRY_BASE_SECONDS": "0.05",
                "GATEWAY_RETRY_MAX_SECONDS": "0.5",
                "GATEWAY_POLL_SECONDS": "0.05",
                "EMAIL_API_URL": sandbox.url + EMAIL_PATH,
                "EMAIL_API_TOKEN": "dev-email-token",
                "SMS_API_URL": sandbox.url + SMS_PATH,
                "SMS_API_TOKEN": "dev-sms-token",
                "PUSH_API_URL": sandbox.url + "/push",
                "LOG_LEVEL": "WARNING",
                **RECEIPT_SECRETS,
            },
            port=self.gateway_port,
            log_path=tmp_path / "gateway.log",
        )
        self.orders_env = {
            "ORDERS_DATABASE_URL": database_server.database_url("orders", orders_tortoise_config, tmp_path),
            "ORDERS_PORT": str(self.orders_port),
            "ADMIN_TOKEN": ADMIN_TOKEN,
            "ORDERS_RATE_LIMIT": "100000/second",
            "ORDERS_GATEWAY_URL": self.gateway.url,
            "ORDERS_GATEWAY_TOKEN": CALLER_TOKEN,
            "ORDERS_WEBHOOK_SECRET": SECRET,
            "ORDERS_CALLBACK_URL": f"http://127.0.0.1:{self.orders_port}/webhooks/notifications",
            "ORDERS_RELAY_RETRY_BASE_SECONDS": "0.1",
            "ORDERS_RELAY_RETRY_MAX_SECONDS": "1",
            "ORDERS_RELAY_POLL_SECONDS": "0.05",
            "LOG_LEVEL": "WARNING",
        }
        self.orders = ServiceProcess(
            "orders_service", self.orders_env, self.orders_port, tmp_path / "orders.log"
        )

    def start(self) -> None:
        self.orders.run("seed")
        self.gateway.start()
        self.orders.start()

    def stop(self) -> None:
        self.orders.stop()
        self.gateway.stop()


@pytest.fixture
def unstarted_system(database_server, tmp_path, sandbox, receipts_port) -> System:
    """Databases are prepared here, outside the event loop the async tests run in. The sandbox sends
    its receipts to this system's gateway."""
    return System(database_server, tmp_path, sandbox, gateway_port=receipts_port)


@pytest.fixture
def system(unstarted_system):
    unstarted_system.start()
    yield unstarted_system
    unstarted_system.stop()
