"""POST /webhooks/notifications: signed status callbacks keep each order's notification current."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from orders_service.lifecycle import OrderNotificationStatus, OutboxStatus
from orders_service.models import DNAKitOrder, OutboxMessage, WebhookReceipt
from tests.orders_service.conftest import ADMIN, WEBHOOK_SECRET, place

PROBLEM = "application/problem+json"


def signed(
    payload: dict, *, webhook_id: str = "msg_1", secret: str = WEBHOOK_SECRET, at: datetime | None = None
):
    body = json.dumps(payload)
    moment = at or datetime.now(UTC)
    headers = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, moment, body),
        "Content-Type": "application/json",
    }
    return body, headers


def callback(
    status: str, reference: str | None, notification_id: str = "ntf_1", channel: str = "sms"
) -> dict:
    return {
        "type": f"notification.{status}",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"id": notification_id, "status": status, "channel": channel, "reference": reference},
    }


@pytest.fixture
async def placed(client, ada) -> tuple[dict, OutboxMessage]:
    order = await (await place(client)).json()
    return order, await OutboxMessage.get(order_id=order["id"])


async def _post(client, body: str, headers: dict):
    return await client.post("/webhooks/notifications", data=body, headers=headers)


async def test_a_delivered_callback_updates_the_order(client, placed):
    order, message = placed
    body, headers = signed(callback("delivered", message.id))

    response = await _post(client, body, headers)

    assert response.status == 204
    stored = await DNAKitOrder.get(id=order["id"])
    assert (stored.notification_status, stored.notification_id, stored.notification_channel) == (
        "delivered",
        "ntf_1",
        "sms",
    )


async def test_a_replayed_webhook_id_is_acknowledged_and_ignored(client, placed):
    order, message = placed
    await _post(client, *signed(callback("failed", message.id), webhook_id="msg_a"))
    await DNAKitOrder.filter(id=order["id"]).update(notification_status="queued")

    replay = await _post(client, *signed(callback("failed", message.id), webhook_id="msg_a"))

    assert replay.status == 200
    assert await replay.json() == {"status": "duplicate"}
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "queued"
    assert await WebhookReceipt.all().count() == 1


async def test_delivered_is_never_undone_by_a_late_failure(client, placed):
    order, message = placed
    await _post(client, *signed(callback("delivered", message.id), webhook_id="msg_a"))

    await _post(client, *signed(callback("failed", message.id), webhook_id="msg_b"))

    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "delivered"


async def test_a_failure_then_a_delivery_after_retry_ends_delivered(client, placed):
    order, message = placed
    await _post(client, *signed(callback("failed", message.id), webhook_id="msg_a"))
    failed = (await DNAKitOrder.get(id=order["id"])).notification_status

    await _post(client, *signed(callback("delivered", message.id), webhook_id="msg_b"))

    assert failed == "failed"
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "delivered"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda body, headers: (body, {k: v for k, v in headers.items() if not k.startswith("webhook-")}),
        lambda body, headers: (body.replace("delivered", "failed"), headers),
        lambda body, headers: (body, headers | {"webhook-signature": "v1,AAAA"}),
        lambda body, headers: (body, headers | {"webhook-signature": "garbage"}),
        lambda body, headers: (body, headers | {"webhook-id": "msg_other"}),
        lambda body, headers: (body, headers | {"webhook-timestamp": "not-a-time"}),
    ],
    ids=["unsigned", "body-changed", "wrong-signature", "malformed-signature", "other-id", "bad-timestamp"],
)
async def test_unsigned_or_forged_callbacks_are_401(client, placed, tamper):
    order, message = placed
    body, headers = tamper(*signed(callback("delivered", message.id)))

    response = await _post(client, body, headers)

    assert response.status == 401
    assert response.content_type == PROBLEM
    assert (await response.json())["detail"] == (
        "The callback is not signed with this service's secret, or is too old."
    )
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "pending"


@pytest.mark.parametrize("minutes", [-10, 10])
async def test_callbacks_outside_the_five_minute_window_are_401(client, placed, minutes):
    _order, message = placed
    at = datetime.now(UTC) + timedelta(minutes=minutes)

    response = await _post(client, *signed(callback("delivered", message.id), at=at))

    assert response.status == 401


async def test_a_callback_signed_with_another_secret_is_401(client, placed):
    _order, message = placed
    body, headers = signed(callback("delivered", message.id), secret="whsec_b3RoZXItc2VjcmV0LTAxMjM0NTY3")

    assert (await _post(client, body, headers)).status == 401


async def test_a_signed_callback_that_is_not_a_status_is_422(client, placed):
    body, headers = signed({"type": "notification.delivered", "data": {"status": "lost"}})

    response = await _post(client, body, headers)

    assert response.status == 422
    assert (await response.json())["type"] == "/problems/validation-failed"


async def test_a_callback_for_an_unknown_reference_is_accepted_and_changes_nothing(client, placed):
    order, _message = placed

    response = await _post(client, *signed(callback("delivered", "obx_unknown")))

    assert response.status == 204
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "pending"


async def test_without_a_secret_no_callback_is_taken_even_signed_with_the_development_one(
    aiohttp_client, orders_settings
):
    from orders_service.app import create_app
    from orders_service.settings import DEV_WEBHOOK_SECRET

    settings = orders_settings.model_copy(update={"webhook_secret": None, "callback_url": None})
    client = await aiohttp_client(create_app(settings))

    response = await _post(client, *signed(callback("delivered", "obx_1"), secret=DEV_WEBHOOK_SECRET))

    assert response.status == 401
    assert (await response.json())["detail"] == (
        "This service takes no status callbacks: ORDERS_WEBHOOK_SECRET is not set."
    )


def sequenced(status: str, reference: str, sequence: int, *, channel="email", reason=None, kind=None) -> dict:
    payload = callback(status, reference, channel=channel)
    payload["type"] = f"notification.{kind or status}"
    payload["data"] |= {"sequence": sequence, "reason": reason}
    return payload


async def test_every_change_the_gateway_reports_shows_on_the_order_with_its_reason(client, placed):
    order, message = placed
    changes = [
        sequenced("sent", message.id, 2),
        sequenced(
            "queued",
            message.id,
            3,
            channel="sms",
            kind="fallback",
            reason="bounced on email (mailbox_unavailable): trying sms",
        ),
        sequenced("sent", message.id, 4, channel="sms"),
        sequenced("delivered", message.id, 5, channel="sms", reason="delivered on sms (ok)"),
    ]
    seen = []
    for number, payload in enumerate(changes):
        await _post(client, *signed(payload, webhook_id=f"msg_{number}"))
        stored = await DNAKitOrder.get(id=order["id"])
        seen.append((stored.notification_status, stored.notification_channel, stored.notification_reason))

    assert seen == [
        ("sent", "email", None),
        ("queued", "sms", "bounced on email (mailbox_unavailable): trying sms"),
        ("sent", "sms", None),
        ("delivered", "sms", "delivered on sms (ok)"),
    ]
    shown = await (await client.get(f"/orders/{order['id']}", headers=ADMIN)).json()
    assert shown["notification"] | {"id": None} == {
        "id": None,
        "requested_channel": None,
        "channel": "sms",
        "status": "delivered",
        "reason": "delivered on sms (ok)",
    }


@pytest.mark.parametrize("status", ["undelivered", "bounced", "suppressed", "cancelled"])
async def test_each_final_gateway_status_is_accepted(client, placed, status):
    order, message = placed

    response = await _post(client, *signed(sequenced(status, message.id, 3, reason="why")))

    assert response.status == 204
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == status


async def test_a_callback_older_than_the_change_shown_is_ignored(client, placed):
    order, message = placed
    await _post(client, *signed(sequenced("delivered", message.id, 3), webhook_id="msg_a"))

    late = await _post(client, *signed(sequenced("sent", message.id, 2), webhook_id="msg_b"))

    assert late.status == 204
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "delivered"


@pytest.mark.parametrize("status", ["pending", "lost"])
async def test_a_status_the_gateway_never_sends_is_refused(client, placed, status):
    _order, message = placed

    response = await _post(client, *signed(sequenced(status, message.id, 2)))

    assert response.status == 422


async def test_news_of_a_hand_over_a_resend_replaced_no_longer_moves_the_order(client, placed):
    order, first = placed
    await OutboxMessage.filter(id=first.id).update(status=OutboxStatus.FAILED)
    await DNAKitOrder.filter(id=order["id"]).update(notification_status=OrderNotificationStatus.FAILED)
    resent = await client.post(f"/orders/{order['id']}/notification/resend", json={}, headers=ADMIN)
    assert resent.status == 202, await resent.text()

    late = signed(callback("delivered", first.id, notification_id="ntf_old"), webhook_id="msg_old")
    assert (await _post(client, *late)).status == 204
    stored = await DNAKitOrder.get(id=order["id"])
    assert (stored.notification_status, stored.notification_id) == ("pending", None)

    second = await OutboxMessage.filter(order_id=order["id"]).exclude(id=first.id).get()
    news = signed(callback("delivered", second.id, notification_id="ntf_new"), webhook_id="msg_new")
    assert (await _post(client, *news)).status == 204
    stored = await DNAKitOrder.get(id=order["id"])
    assert (stored.notification_status, stored.notification_id) == ("delivered", "ntf_new")


@pytest.mark.parametrize("field", ["id", "channel"])
async def test_a_signed_callback_with_a_value_too_long_for_the_order_is_422(client, placed, field):
    order, message = placed
    payload = callback("delivered", message.id)
    payload["data"][field] = "x" * 65

    response = await _post(client, *signed(payload))

    assert response.status == 422
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "pending"
    assert await WebhookReceipt.all().count() == 0  # nothing half-written
