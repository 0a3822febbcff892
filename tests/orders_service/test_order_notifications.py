"""`GET /orders`, `GET /orders/{id}/notification`, resending, and cancelling an order's notification.

The gateway is the session's real gateway process (deliveries off, so notifications stay queued).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orders_service.keys import GATEWAY as GATEWAY_KEY
from orders_service.lifecycle import OrderNotificationStatus, OutboxStatus
from orders_service.models import DNAKitOrder, OutboxMessage
from tests.orders_service.conftest import ADMIN, SUPPORT, order_body, place, run_once


async def _placed(client, **overrides) -> dict:
    response = await place(client, order_body(**overrides))
    assert response.status == 201, await response.text()
    return await response.json()


async def _fail(order_id: str, error: str = "gateway refused it (422): no such recipient") -> None:
    """Stand in for the relay when the gateway refuses the hand-over for good."""
    await OutboxMessage.filter(order_id=order_id).update(status=OutboxStatus.FAILED, last_error=error)
    await DNAKitOrder.filter(id=order_id).update(notification_status=OrderNotificationStatus.FAILED)


async def _list(client, **params) -> dict:
    response = await client.get("/orders", params=params, headers=SUPPORT)
    assert response.status == 200, await response.text()
    return await response.json()


async def test_orders_are_listed_newest_first_with_filters(client, ada, grace):
    first = await _placed(client)
    second = await _placed(client, user_id="u_grace")
    third = await _placed(client)
    await _fail(second["id"])

    assert [o["id"] for o in (await _list(client))["data"]] == [third["id"], second["id"], first["id"]]
    assert [o["id"] for o in (await _list(client, user_id="u_grace"))["data"]] == [second["id"]]
    assert [o["id"] for o in (await _list(client, notification_status="failed"))["data"]] == [second["id"]]
    assert [o["id"] for o in (await _list(client, placed_by="token:admin-1", status="placed"))["data"]] == [
        third["id"],
        second["id"],
        first["id"],
    ]
    assert (await _list(client, placed_by="staff:nobody@example.com"))["data"] == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await _list(client, created_after=later))["data"] == []
    assert len((await _list(client, created_before=later))["data"]) == 3


async def test_orders_page_with_a_cursor_and_a_link(client, ada):
    placed = [await _placed(client) for _ in range(3)]

    response = await client.get("/orders", params={"limit": 2, "user_id": "u_ada"}, headers=ADMIN)
    page = await response.json()
    rest = await _list(client, limit=2, user_id="u_ada", cursor=page["next_cursor"])

    assert [o["id"] for o in page["data"] + rest["data"]] == [o["id"] for o in reversed(placed)]
    assert "user_id=u_ada" in response.headers["Link"]
    assert rest["next_cursor"] is None


@pytest.mark.parametrize(
    "params",
    [{"status": "lost"}, {"created_after": "0.5"}, {"cursor": "nonsense"}, {"limit": "0"}],
)
async def test_a_bad_filter_is_a_400(client, params):
    response = await client.get("/orders", params=params, headers=ADMIN)

    assert response.status == 400


async def test_the_story_joins_the_outbox_and_the_gateway(client, ada, make_relay):
    order = await _placed(client, notification_channel="sms")
    await run_once(make_relay())

    response = await client.get(f"/orders/{order['id']}/notification", headers=SUPPORT)

    assert response.status == 200
    story = await response.json()
    assert story["gateway_reachable"] is True
    assert story["gateway_problem"] is None
    assert (story["status"], story["channel"], story["final"]) == ("queued", "sms", False)
    [message] = story["messages"]
    assert message["status"] == "sent"
    assert message["requested_channel"] == "sms"
    assert message["gateway"]["status"] == "queued"
    assert message["gateway"]["id"] == message["notification_id"]
    assert message["gateway"]["attempts"] == []
    [accepted] = message["gateway"]["events"]  # the gateway's record of who queued it, and why
    assert (accepted["sequence"], accepted["status"], accepted["channel"], accepted["source"]) == (
        1,
        "queued",
        "sms",
        "caller",
    )
    assert accepted["reason"]  # the routing's word on the channel
    assert story["reason"] is None  # no callback has told the order anything yet


async def test_with_the_gateway_down_the_story_says_so_and_keeps_local_facts(
    client, ada, make_relay, monkeypatch
):
    order = await _placed(client)
    await run_once(make_relay())
    monkeypatch.setattr(client.app[GATEWAY_KEY], "base_url", "http://127.0.0.1:9")  # nothing listens there

    story = await (await client.get(f"/orders/{order['id']}/notification", headers=ADMIN)).json()

    assert story["gateway_reachable"] is False
    assert "cannot be reached" in story["gateway_problem"]
    [message] = story["messages"]
    assert message["status"] == "sent"
    assert message["notification_id"] is not None
    assert message["gateway"] is None


async def test_a_refused_hand_over_shows_why(client, ada):
    order = await _placed(client)
    await _fail(order["id"])

    story = await (await client.get(f"/orders/{order['id']}/notification", headers=ADMIN)).json()

    assert (story["status"], story["final"]) == ("failed", True)
    assert story["messages"][0]["last_error"] == "gateway refused it (422): no such recipient"


async def test_a_failed_notification_is_resent_keeping_its_history(client, ada):
    order = await _placed(client)
    await _fail(order["id"])

    response = await client.post(
        f"/orders/{order['id']}/notification/resend", json={"channel": "email"}, headers=ADMIN
    )

    assert response.status == 202, await response.text()
    assert response.headers["Location"] == f"/orders/{order['id']}/notification"
    body = await response.json()
    assert body["notification"]["status"] == "pending"
    assert body["notification"]["requested_channel"] == "email"
    messages = await OutboxMessage.filter(order_id=order["id"]).order_by("id")
    assert [m.status for m in messages] == [OutboxStatus.FAILED, OutboxStatus.PENDING]
    assert messages[1].payload["channel"] == "email"
    detail = await (await client.get(f"/orders/{order['id']}", headers=ADMIN)).json()
    assert [(c["kind"], c["value"], c["actor"]) for c in detail["changes"]] == [
        ("placed", None, "token:admin-1"),
        ("notification_resent", "email", "token:admin-1"),
    ]


async def test_a_resend_with_the_same_idempotency_key_writes_one_row(client, ada):
    order = await _placed(client)
    await _fail(order["id"])
    headers = {**ADMIN, "Idempotency-Key": "resend-1"}
    url = f"/orders/{order['id']}/notification/resend"

    first = await client.post(url, json={}, headers=headers)
    second = await client.post(url, json={}, headers=headers)

    assert (first.status, second.status) == (202, 202)
    assert second.headers["Idempotent-Replayed"] == "true"
    assert await OutboxMessage.filter(order_id=order["id"]).count() == 2


async def test_resending_a_notification_that_did_not_fail_is_a_409(client, ada):
    order = await _placed(client)

    response = await client.post(f"/orders/{order['id']}/notification/resend", json={}, headers=ADMIN)

    assert response.status == 409
    assert (await response.json())["type"].endswith("/not-resendable")
    assert await OutboxMessage.all().count() == 1


@pytest.mark.parametrize(
    ("channel", "status", "slug"),
    [("pigeon", 422, "channel-not-offered"), ("sms", 422, "channel-unusable")],
)
async def test_resending_by_a_channel_that_cannot_reach_the_user_is_a_422(
    client, grace, channel, status, slug
):
    order = await _placed(client, user_id="u_grace")
    await _fail(order["id"])

    response = await client.post(
        f"/orders/{order['id']}/notification/resend", json={"channel": channel}, headers=ADMIN
    )

    assert response.status == status
    problem = await response.json()
    assert problem["type"].endswith(slug)
    assert problem["errors"][0]["pointer"] == "#/channel"
    assert await OutboxMessage.all().count() == 1


async def test_support_cannot_resend_and_an_unknown_order_is_a_404(client, ada):
    order = await _placed(client)
    await _fail(order["id"])

    refused = await client.post(f"/orders/{order['id']}/notification/resend", json={}, headers=SUPPORT)
    missing = await client.post("/orders/ord_nope/notification/resend", json={}, headers=ADMIN)
    missing_story = await client.get("/orders/ord_nope/notification", headers=ADMIN)

    assert (refused.status, missing.status, missing_story.status) == (403, 404, 404)


async def test_cancelling_an_order_withdraws_a_notification_still_in_the_outbox(client, ada):
    order = await _placed(client)

    response = await client.patch(f"/orders/{order['id']}", json={"status": "cancelled"}, headers=ADMIN)

    body = await response.json()
    assert response.status == 200
    assert (body["status"], body["notification"]["status"]) == ("cancelled", "cancelled")
    [message] = await OutboxMessage.all()
    assert message.status is OutboxStatus.CANCELLED
    assert [c["kind"] for c in body["changes"]] == ["placed", "status", "notification_cancelled"]


async def test_cancelling_an_order_cancels_its_notification_at_the_gateway(
    client, ada, make_relay, gateway_process
):
    order = await _placed(client)
    await run_once(make_relay())

    response = await client.patch(f"/orders/{order['id']}", json={"status": "cancelled"}, headers=ADMIN)

    assert (await response.json())["notification"]["status"] == "cancelled"
    story = await (await client.get(f"/orders/{order['id']}/notification", headers=ADMIN)).json()
    assert story["messages"][0]["gateway"]["status"] == "cancelled"


async def test_a_delivered_notification_stays_delivered_when_the_order_is_cancelled(client, ada):
    order = await _placed(client)
    await OutboxMessage.filter(order_id=order["id"]).update(status=OutboxStatus.SENT)
    await DNAKitOrder.filter(id=order["id"]).update(notification_status=OrderNotificationStatus.DELIVERED)

    response = await client.patch(f"/orders/{order['id']}", json={"status": "cancelled"}, headers=ADMIN)

    body = await response.json()
    assert (body["status"], body["notification"]["status"]) == ("cancelled", "delivered")
    assert [c["kind"] for c in body["changes"]] == ["placed", "status"]


async def test_each_status_change_records_who_made_it(client, ada):
    order = await _placed(client)

    await client.patch(f"/orders/{order['id']}", json={"status": "shipped"}, headers=ADMIN)
    body = await (await client.get(f"/orders/{order['id']}", headers=SUPPORT)).json()

    assert [(c["kind"], c["value"], c["actor"]) for c in body["changes"]] == [
        ("placed", None, "token:admin-1"),
        ("status", "shipped", "token:admin-1"),
    ]
