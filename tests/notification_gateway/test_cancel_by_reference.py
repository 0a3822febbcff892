"""Cancelling by `reference`, the callback each cancellation owes, and cancelling against a worker
that claims the same row at the same moment (real connections, on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from notification_gateway import notifications
from notification_gateway.app import create_app
from notification_gateway.models import Callback, Notification
from notification_gateway.status import AttemptOutcome, NotificationStatus
from tests.notification_gateway import test_delivery
from tests.notification_gateway.conftest import MARKETING, ORDERS, notify, notify_body
from tests.notification_gateway.test_callbacks import SECRET, receiver  # noqa: F401
from tests.notification_gateway.test_delivery import BIRD
from tests.notification_gateway.test_notifications_api import _finish

# The delivery tests' fixtures: a worker on an injected clock, with the pigeon channel.
clock, email_stub, make_worker = test_delivery.clock, test_delivery.email_stub, test_delivery.make_worker


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon, receiver):  # noqa: F811
    settings = gateway_settings.model_copy(
        update={
            "callback_origins": f"http://127.0.0.1:{receiver.server.port}",
            "webhook_secrets": SecretStr(f"orders:{SECRET}"),
        }
    )
    return await aiohttp_client(create_app(settings, extra_plugins=[("pigeon", pigeon)]))


async def _accepted(client, reference: str, **overrides) -> dict:
    response = await notify(client, notify_body(reference=reference, **overrides))
    assert response.status == 202, await response.text()
    return await response.json()


async def _cancel(client, reference: str, headers=ORDERS):
    return await client.post("/notifications/cancel", json={"reference": reference}, headers=headers)


async def test_every_pending_notification_with_the_reference_is_cancelled(client):
    first = await _accepted(client, "ord_1")
    second = await _accepted(client, "ord_1")
    sent = await _accepted(client, "ord_1")
    other = await _accepted(client, "ord_2")
    await _finish(sent["id"], NotificationStatus.SENT, AttemptOutcome.SENT)

    response = await _cancel(client, "ord_1")

    assert response.status == 200
    body = await response.json()
    assert body == {
        "reference": "ord_1",
        "cancelled": sorted([first["id"], second["id"]]),
        "not_cancelled": [{"id": sent["id"], "status": "sent"}],
    }
    statuses = {n.id: n.status for n in await Notification.all()}
    assert statuses == {
        first["id"]: NotificationStatus.CANCELLED,
        second["id"]: NotificationStatus.CANCELLED,
        sent["id"]: NotificationStatus.SENT,
        other["id"]: NotificationStatus.QUEUED,
    }


async def test_cancelling_a_reference_again_cancels_nothing_more(client):
    accepted = await _accepted(client, "ord_1")
    await _cancel(client, "ord_1")

    again = await _cancel(client, "ord_1")

    assert again.status == 200
    assert await again.json() == {"reference": "ord_1", "cancelled": [], "not_cancelled": []}
    assert (await Notification.get(id=accepted["id"])).status is NotificationStatus.CANCELLED


async def test_a_reference_none_of_yours_has_is_404(client):
    await _accepted(client, "ord_1")

    mine = await _cancel(client, "ord_9")
    theirs = await _cancel(client, "ord_1", headers=MARKETING)

    assert mine.status == theirs.status == 404
    problem = await mine.json()
    assert problem["type"] == "/problems/reference-not-found"
    assert problem["detail"] == "No notification of yours has the reference 'ord_9'."
    assert (await Notification.get(reference="ord_1")).status is NotificationStatus.QUEUED


@pytest.mark.parametrize("body", [{}, {"reference": "has space"}, {"reference": "ord_1", "id": "x"}])
async def test_a_malformed_cancel_request_is_422(client, body):
    response = await client.post("/notifications/cancel", json=body, headers=ORDERS)

    assert response.status == 422
    assert (await response.json())["errors"]


@pytest.mark.parametrize("by", ["id", "reference"])
async def test_each_cancellation_owes_the_caller_a_callback(client, receiver, by):  # noqa: F811
    accepted = await _accepted(client, "ord_1", callback_url=receiver.url)
    without_url = await _accepted(client, "ord_1")

    if by == "id":
        response = await client.post(f"/notifications/{accepted['id']}/cancel", headers=ORDERS)
        await client.post(f"/notifications/{without_url['id']}/cancel", headers=ORDERS)
    else:
        response = await _cancel(client, "ord_1")

    assert response.status == 200
    [callback] = await Callback.all()
    assert callback.notification_id == accepted["id"]
    assert callback.payload["type"] == "notification.cancelled"
    data = callback.payload["data"]
    assert {key: data[key] for key in ("id", "status", "channel", "reference", "recipient_id", "source")} == {
        "id": accepted["id"],
        "status": "cancelled",
        "channel": "email",
        "reference": "ord_1",
        "recipient_id": "u_ada",
        "source": "caller",
    }


async def test_a_refused_cancellation_owes_no_callback(client, receiver):  # noqa: F811
    accepted = await _accepted(client, "ord_1", callback_url=receiver.url)
    await Notification.filter(id=accepted["id"]).update(status=NotificationStatus.SENDING)

    response = await client.post(f"/notifications/{accepted['id']}/cancel", headers=ORDERS)

    assert response.status == 409
    assert await Callback.all().count() == 0


ROUNDS = 30


async def _race(worker, notification_id: str, reference: str, head_start: int, by_reference: bool) -> bool:
    """Cancel and claim-and-send one notification concurrently; True if the cancellation won."""

    async def claim_and_send() -> None:
        for _ in range(head_start):  # vary which side reaches the database first
            await asyncio.sleep(0)
        for notification in await worker.claim(1):
            await worker.deliver(notification)

    async def cancel() -> bool:
        try:
            if not by_reference:
                await notifications.cancel(notification_id, caller="orders")
                return True
            cancelled, _ = await notifications.cancel_by_reference(reference, caller="orders")
        except notifications.NotCancellable:
            return False
        return cancelled == [notification_id]

    won, _ = await asyncio.gather(cancel(), claim_and_send())
    return won


async def test_cancelling_while_a_worker_claims_ends_cancelled_or_sent_never_both(
    client, make_worker, pigeon
):
    """Each round races one cancellation against one claim-and-send of the same row, as concurrent
    tasks on the real database (separate connections on PostgreSQL)."""
    worker = make_worker(concurrency=1)
    for round_number in range(ROUNDS):
        reference = f"race_{round_number}"
        body = notify_body(recipient=BIRD, channel="pigeon", reference=reference)
        accepted = await (await notify(client, body)).json()

        cancelled = await _race(worker, accepted["id"], reference, round_number % 5, bool(round_number % 2))

        stored = await Notification.get(id=accepted["id"])
        sends = sum(1 for m in pigeon.channel.sent if m.notification_id == accepted["id"])
        if cancelled:
            assert (stored.status, sends) == (NotificationStatus.CANCELLED, 0)
        else:
            assert (stored.status, sends) == (NotificationStatus.SENT, 1)
