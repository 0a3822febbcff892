"""A provider sandbox per test, driven over HTTP like the gateway and the end-to-end tests drive it."""

from __future__ import annotations

from typing import Any

import pytest

from provider_sandbox.app import create_app
from provider_sandbox.settings import SandboxSettings

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
