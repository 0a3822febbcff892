"""An orders service on a real database, driven over HTTP, beside a real gateway process."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from apikit.backoff import Backoff
from orders_service.app import create_app
from orders_service.db import orders_tortoise_config
from orders_service.gateway import GatewayClient
from orders_service.models import DNAKitOrder, User
from orders_service.relay import OutboxRelay
from orders_service.settings import OrdersSettings
from tests.conftest import GATEWAY_TOKEN, WEBHOOK_SECRET

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
SUPPORT_TOKEN = "test-support-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
SUPPORT = {"Authorization": f"Bearer {SUPPORT_TOKEN}"}

SHIPPING = {
    "recipient_name": "Ada Lovelace",
    "address_lines": ["12 Example Street"],
    "city": "London",
    "postcode": "N1 9GU",
    "country": "GB",
}


def order_body(**overrides) -> dict:
    body = {"user_id": "u_ada", "sequencing_type": "whole-exome-sequencing", "shipping_info": SHIPPING}
    return body | overrides


@pytest.fixture
def orders_database_url(database_server, tmp_path) -> str:
    return database_server.database_url("orders", orders_tortoise_config, tmp_path)


@pytest.fixture
def orders_settings(orders_database_url, gateway_process) -> OrdersSettings:
    return OrdersSettings(
        APP_ENV="production",
        ORDERS_DATABASE_URL=orders_database_url,
        ADMIN_TOKEN=ADMIN_TOKEN,
        SUPPORT_TOKEN=SUPPORT_TOKEN,
        ORDERS_GATEWAY_URL=gateway_process.url,
        ORDERS_GATEWAY_TOKEN=GATEWAY_TOKEN,
        ORDERS_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ORDERS_RELAY_ENABLED=False,
    )


@pytest.fixture
async def client(aiohttp_client, orders_settings):
    return await aiohttp_client(create_app(orders_settings))


@pytest.fixture
async def ada(client) -> User:
    return await User.create(
        id="u_ada", name="Ada Lovelace", email="ada@example.com", phone_number="+447451277972"
    )


@pytest.fixture
async def grace(client) -> User:
    return await User.create(id="u_grace", name="Grace Hopper", email="grace@example.com")


async def place(client, body: dict | None = None, headers: dict | None = None):
    return await client.post(
        "/orders", json=order_body() if body is None else body, headers={**ADMIN, **(headers or {})}
    )


async def order_count() -> int:
    return await DNAKitOrder.all().count()


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def make_relay(gateway_process):
    clock = Clock()
    async with aiohttp.ClientSession() as session:

        def make(url: str = gateway_process.url, token: str = GATEWAY_TOKEN, metrics=None) -> OutboxRelay:
            return OutboxRelay(
                gateway=GatewayClient(session, gateway_url=url, token=token, timeout_seconds=5),
                backoff=Backoff(base_seconds=1, max_seconds=8),
                concurrency=4,
                lease_seconds=30,
                poll_seconds=0.05,
                clock=clock,
                rng=random.Random(1),
                metrics=metrics,
            )

        make.clock = clock
        yield make


async def run_once(relay: OutboxRelay) -> None:
    """One pass of the relay: claim what is due and hand it to the gateway."""
    for message in await relay.claim(relay.concurrency):
        await relay.process(message)
