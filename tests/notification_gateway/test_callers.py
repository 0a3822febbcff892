"""`GET /callers/me`: a caller checks its own set-up, without the gateway revealing any secret."""

from __future__ import annotations

from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from notification_gateway.app import create_app
from tests.notification_gateway.conftest import MARKETING, ORDERS

SECRET = "whsec_b3JkZXJzLWNhbGxiYWNrLXNlY3JldC0wMTIz"


async def test_a_caller_with_a_secret_gets_a_sample_it_can_verify(aiohttp_client, gateway_settings):
    settings = gateway_settings.model_copy(
        update={"webhook_secrets": SecretStr(f"orders:{SECRET}"), "callback_origins": "http://127.0.0.1:8080"}
    )
    client = await aiohttp_client(create_app(settings))

    response = await client.get("/callers/me", headers=ORDERS)

    assert response.status == 200
    me = await response.json()
    assert me["caller"] == "orders"
    assert me["callbacks"]["signing_secret"] is True
    assert me["callbacks"]["allowed_origins"] == ["http://127.0.0.1:8080"]
    sample = me["callbacks"]["sample"]
    headers = {
        "webhook-id": sample["id"],
        "webhook-timestamp": str(sample["timestamp"]),
        "webhook-signature": sample["signature"],
    }
    assert Webhook(SECRET).verify(sample["body"], headers) == {"type": "selfcheck", "caller": "orders"}
    assert SECRET.removeprefix("whsec_") not in await response.text()


async def test_a_caller_without_a_secret_is_told_so(client):
    response = await client.get("/callers/me", headers=MARKETING)

    me = await response.json()
    assert me == {
        "caller": "marketing",
        "callbacks": {"signing_secret": False, "allowed_origins": [], "sample": None},
    }


async def test_no_token_is_401(client):
    response = await client.get("/callers/me")

    assert response.status == 401
