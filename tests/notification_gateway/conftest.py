"""A gateway on a real database, driven over HTTP, with the e-mail and SMS plugins loaded."""

from __future__ import annotations

import pytest

from notification_gateway import (
    Channel,
    Message,
    PermanentDeliveryError,
    Receipt,
    RetryableDeliveryError,
    hookimpl,
)
from notification_gateway.app import create_app
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.settings import GatewaySettings
from notification_gateway.testing import production_logs
from tests.processes import routing_at_any_hour

ORDERS_TOKEN = "orders-caller-token-0123456789abcdef"
MARKETING_TOKEN = "marketing-caller-token-0123456789ab"
ORDERS = {"Authorization": f"Bearer {ORDERS_TOKEN}"}
MARKETING = {"Authorization": f"Bearer {MARKETING_TOKEN}"}
OPERATOR_TOKEN = "operator-token-0123456789abcdefghij"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}

ADA = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+447451277972"}
GRACE = {"id": "u_grace", "name": "Grace Hopper", "email": "grace@example.com"}
PLACED = "Hi {user_name}, your order has been successfully placed."
RECEIPT_SECRETS = {
    "email": "email-receipt-secret",
    "sms": "sms-receipt-secret",
    "push": "push-receipt-secret",
}


def notify_body(**overrides) -> dict:
    return {"recipient": ADA, "message": PLACED} | overrides


class PigeonChannel(Channel):
    """A test-only channel: scripted outcomes, every message kept."""

    name = "pigeon"
    recipient_field = "loft"
    description = "Carrier pigeon (tests only)."

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.script: list[Exception | None] = []

    async def send(self, message, session) -> Receipt:
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.sent.append(message)
        return Receipt(provider_status=200, provider_reference=f"p{len(self.sent)}")


class PigeonPlugin:
    """Registers through the very hook installed plugins use."""

    __version__ = "9.9.9"

    def __init__(self) -> None:
        self.channel = PigeonChannel()

    @hookimpl
    def register_channels(self, register):
        register(self.channel)


__all__ = ["PermanentDeliveryError", "RetryableDeliveryError"]


@pytest.fixture
def provider_env(monkeypatch):
    """Plugin settings pointing at an address nothing listens on: API tests never deliver."""
    monkeypatch.setenv("EMAIL_API_URL", "http://127.0.0.1:9/email")
    monkeypatch.setenv("EMAIL_API_TOKEN", "email-provider-token")
    monkeypatch.setenv("SMS_API_URL", "http://127.0.0.1:9/sms")
    monkeypatch.setenv("SMS_API_TOKEN", "sms-provider-token")
    monkeypatch.setenv("PUSH_API_URL", "http://127.0.0.1:9/push")
    for channel, secret in RECEIPT_SECRETS.items():
        monkeypatch.setenv(f"{channel.upper()}_RECEIPT_SECRET", secret)


@pytest.fixture
def gateway_database_url(database_server, tmp_path) -> str:
    return database_server.database_url("gateway", gateway_tortoise_config, tmp_path)


@pytest.fixture
def gateway_settings(gateway_database_url, provider_env) -> GatewaySettings:
    return GatewaySettings(
        APP_ENV="production",
        GATEWAY_DATABASE_URL=gateway_database_url,
        GATEWAY_CALLERS=f"orders:{ORDERS_TOKEN},marketing:{MARKETING_TOKEN}",
        GATEWAY_SUPPRESSION_KEY="test-suppression-key-0123456789",
        GATEWAY_OPERATOR_TOKEN=OPERATOR_TOKEN,
        GATEWAY_PLUGINS="email,sms",
        GATEWAY_WORKERS_ENABLED=False,
        GATEWAY_ROUTING_FILE=routing_at_any_hour(),
    )


@pytest.fixture
def pigeon() -> PigeonPlugin:
    return PigeonPlugin()


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon):
    return await aiohttp_client(create_app(gateway_settings, extra_plugins=[("pigeon", pigeon)]))


async def notify(client, body: dict | None = None, headers: dict | None = None):
    return await client.post(
        "/notify", json=notify_body() if body is None else body, headers={**ORDERS, **(headers or {})}
    )


@pytest.fixture
def logs():
    """Every log line as the gateway writes it (masked JSON lines), at DEBUG, SQL included."""
    with production_logs() as stream:
        yield stream
