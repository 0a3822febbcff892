"""Placing an order notifies the user: the outbox row, its payload, and the channel check."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from orders_service.app import create_app
from orders_service.models import DNAKitOrder, OutboxMessage, User
from orders_service.notifications import NotificationService
from tests.orders_service.conftest import ADMIN, order_body, order_count, place


async def test_an_order_and_its_notification_are_written_together(client, ada):
    order = await (await place(client, order_body(notification_channel="sms"))).json()

    [message] = await OutboxMessage.all()
    assert message.order_id == order["id"]
    assert message.status == "pending"
    assert message.payload == {
        "recipient": {
            "id": "u_ada",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone_number": "+447451277972",
        },
        "message": f"Hi {{user_name}}, your order has been successfully placed. Reference: {order['id']}.",
        "channel": "sms",
        "attributes": {"kit_type": "whole-exome-sequencing", "order_id": order["id"]},
        "reference": message.id,
        "callback_url": "http://127.0.0.1:8080/webhooks/notifications",
    }
    assert order["notification"] == {
        "id": None,
        "requested_channel": "sms",
        "channel": None,
        "status": "pending",
        "reason": None,
    }


async def test_without_a_channel_the_gateway_decides(client, grace):
    await place(client, order_body(user_id="u_grace", sequencing_type="targeted-sequencing"))

    [message] = await OutboxMessage.all()
    assert "channel" not in message.payload
    assert message.payload["recipient"] == {
        "id": "u_grace",
        "name": "Grace Hopper",
        "email": "grace@example.com",
    }


async def test_other_contact_points_reach_the_gateway(client):
    await User.create(id="u_p", name="Push Person", email="p@example.com", contacts={"push_topic": "kits-p"})

    await place(client, order_body(user_id="u_p"))

    [message] = await OutboxMessage.all()
    assert message.payload["recipient"]["push_topic"] == "kits-p"


async def test_a_failure_after_the_order_leaves_neither_behind(client, ada, monkeypatch):
    async def broken(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(NotificationService, "notify", broken)

    response = await place(client)

    assert response.status == 500
    assert await order_count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_a_channel_the_gateway_does_not_have_is_422(client, ada):
    response = await place(client, order_body(notification_channel="fax"))

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/channel-not-offered"
    assert problem["detail"] == "The gateway has no channel 'fax'. Available: email, sms."
    assert problem["errors"][0]["pointer"] == "#/notification_channel"
    assert await order_count() == 0
    assert await OutboxMessage.all().count() == 0


async def test_sms_for_a_user_without_a_phone_is_422(client, grace):
    response = await place(client, order_body(user_id="u_grace", notification_channel="sms"))

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/channel-unusable"
    assert problem["detail"] == "User u_grace has no phone_number, which the sms channel needs."
    assert await order_count() == 0


async def test_a_named_channel_cannot_be_checked_while_the_gateway_is_down(
    aiohttp_client, orders_settings, ada
):
    settings = orders_settings.model_copy(update={"gateway_url": "http://127.0.0.1:9"})
    client = await aiohttp_client(create_app(settings))

    named = await client.post("/orders", json=order_body(notification_channel="sms"), headers=ADMIN)
    routed = await client.post("/orders", json=order_body(), headers=ADMIN)

    assert named.status == 503
    assert named.headers["Retry-After"] == "5"
    assert (await named.json())["type"] == "/problems/gateway-unavailable"
    assert routed.status == 201  # the outbox holds it until the gateway is back
    assert await DNAKitOrder.all().count() == 1
    assert await OutboxMessage.all().count() == 1


async def test_a_token_the_gateway_refuses_is_named_not_called_unreachable(
    aiohttp_client, orders_settings, ada, caplog
):
    settings = orders_settings.model_copy(
        update={"gateway_token": SecretStr("not-a-token-the-gateway-knows")}
    )
    client = await aiohttp_client(create_app(settings))

    named = await client.post("/orders", json=order_body(notification_channel="sms"), headers=ADMIN)

    assert named.status == 503
    problem = await named.json()
    assert problem["type"] == "/problems/gateway-token-refused"
    assert problem["title"] == "The gateway refused this service's token"
    assert "the gateway refused this service's token (401)" in problem["detail"]
    assert "ORDERS_GATEWAY_TOKEN" in problem["detail"]
    assert "cannot be reached" not in problem["detail"]
    assert await DNAKitOrder.all().count() == 0
    logged = [r.getMessage() for r in caplog.records if r.name == "orders_service.notifications"]
    assert logged == ["the gateway refused this service's token (401)"]


@pytest.mark.parametrize("channel", ["email", "sms"])
async def test_any_channel_the_gateway_has_is_valid(client, ada, channel):
    response = await place(client, order_body(notification_channel=channel))

    assert response.status == 201
