"""A provider sandbox per test, driven over HTTP like the gateway and the end-to-end tests drive it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from provider_sandbox.app import create_app
from provider_sandbox.settings import SandboxSettings
from tests.provider_sandbox.receivers import Receiver

EMAIL_TOKEN = "test-email-token-4f1c"
SMS_TOKEN = "test-sms-token-9a2e"
PUSH_TOKEN = "test-push-token-77d0"
TOKENS = (EMAIL_TOKEN, SMS_TOKEN, PUSH_TOKEN)

EMAIL_PATH = "/dev/home-test/email-delivery-service"
SMS_PATH = "/dev/home-test/sms-delivery-service"

EMAIL_AUTH = {"Authorization": f"Bearer {EMAIL_TOKEN}"}
SMS_AUTH = {"Authorization": f"Bearer {SMS_TOKEN}"}
PUSH_AUTH = {"Authorization": f"Bearer {PUSH_TOKEN}"}

ADA_EMAIL = {"recipient": "ada@example.com", "message": "Your kit order was placed."}
ADA_SMS = {"recipient": "+447451277972", "message": "Your kit order was placed."}


@pytest.fixture
def sandbox_settings() -> SandboxSettings:
    return SandboxSettings(email_token=EMAIL_TOKEN, sms_token=SMS_TOKEN, push_token=None)


@pytest.fixture
async def sandbox(aiohttp_client, sandbox_settings):
    """A sandbox whose push endpoint needs no token (the default)."""
    return await aiohttp_client(create_app(sandbox_settings))


@pytest.fixture
async def guarded_sandbox(aiohttp_client, sandbox_settings):
    """A sandbox whose push endpoint needs PUSH_TOKEN."""
    settings = SandboxSettings(email_token=EMAIL_TOKEN, sms_token=SMS_TOKEN, push_token=PUSH_TOKEN)
    return await aiohttp_client(create_app(settings))


async def send_sms(client, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    async with client.post(SMS_PATH, json=body or ADA_SMS, headers=SMS_AUTH) as response:
        return response.status, await response.json()


async def send_email(client, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    async with client.post(EMAIL_PATH, json=body or ADA_EMAIL, headers=EMAIL_AUTH) as response:
        return response.status, await response.json()


async def set_faults(client, channel: str, plan: dict[str, Any]) -> dict[str, Any]:
    async with client.put(f"/_sandbox/faults/{channel}", json=plan) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def messages(client, channel: str | None = None) -> list[dict[str, Any]]:
    params = {"channel": channel} if channel else {}
    async with client.get("/_sandbox/messages", params=params) as response:
        assert response.status == 200
        body = await response.json()
    assert body["count"] == len(body["data"])
    return body["data"]


async def requests_log(client, channel: str | None = None) -> list[dict[str, Any]]:
    params = {"channel": channel} if channel else {}
    async with client.get("/_sandbox/requests", params=params) as response:
        assert response.status == 200
        body = await response.json()
    assert body["count"] == len(body["data"])
    return body["data"]


EMAIL_SECRET = "test-email-receipt-secret-31b7"
SMS_SECRET = "test-sms-receipt-secret-c04d"
PUSH_SECRET = "test-push-receipt-secret-e9a1"
SECRETS = {"email": EMAIL_SECRET, "sms": SMS_SECRET, "push": PUSH_SECRET}


@pytest.fixture
async def receiver(aiohttp_server) -> AsyncIterator[Receiver]:
    """A real HTTP server taking webhooks on any path."""
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    server = await aiohttp_server(app)
    receiver.base_url = str(server.make_url("")).rstrip("/")
    yield receiver
    receiver.release()  # hung handlers would otherwise hold up the server's shutdown


def webhook_settings(base_url: str, **overrides: Any) -> SandboxSettings:
    """Receipts and inbound messages to `base_url`, at once, with quick retries."""
    values: dict[str, Any] = {
        "email_token": EMAIL_TOKEN,
        "sms_token": SMS_TOKEN,
        "receipts_url": f"{base_url}/receipts",
        "inbound_url": f"{base_url}/inbound",
        "email_receipt_secret": EMAIL_SECRET,
        "sms_receipt_secret": SMS_SECRET,
        "push_receipt_secret": PUSH_SECRET,
        "receipt_delay_ms": 0,
        "receipt_attempts": 3,
        "receipt_retry_base_ms": 1,
    }
    return SandboxSettings(**(values | overrides))


@pytest.fixture
async def make_sandbox(aiohttp_client, receiver):
    """A sandbox whose webhooks go to `receiver`; keyword arguments override its settings."""

    async def make(**overrides: Any):
        return await aiohttp_client(create_app(webhook_settings(receiver.base_url, **overrides)))

    return make


async def send_push(client, topic: str = "ada-orders") -> tuple[int, dict[str, Any]]:
    async with client.post(f"/push/{topic}", data=b"Your kit shipped.") as response:
        return response.status, await response.json()


async def receipts(client, channel: str | None = None) -> list[dict[str, Any]]:
    params = {"channel": channel} if channel else {}
    async with client.get("/_sandbox/receipts", params=params) as response:
        assert response.status == 200
        body = await response.json()
    assert body["count"] == len(body["data"])
    return body["data"]
