"""`POST /notifications/{id}/cancel`: a notification can be withdrawn until sending starts."""

from __future__ import annotations

import pytest

from notification_gateway.models import Notification
from notification_gateway.status import AttemptOutcome, NotificationStatus
from tests.notification_gateway.conftest import MARKETING, ORDERS
from tests.notification_gateway.test_notifications_api import _accepted, _finish


async def test_a_queued_notification_is_cancelled_and_stays_cancelled(client):
    accepted = await _accepted(client)

    first = await client.post(f"/notifications/{accepted['id']}/cancel", headers=ORDERS)
    again = await client.post(f"/notifications/{accepted['id']}/cancel", headers=ORDERS)

    assert first.status == 200
    body = await first.json()
    assert body["status"] == "cancelled"
    assert body["finished_at"] is not None
    assert body["next_attempt_at"] is None
    assert again.status == 200
    stored = await Notification.get(id=accepted["id"])
    assert stored.status is NotificationStatus.CANCELLED


@pytest.mark.parametrize(
    ("status", "attempts"),
    [
        (NotificationStatus.SENT, (AttemptOutcome.SENT,)),
        (NotificationStatus.DELIVERED, (AttemptOutcome.SENT,)),
        (NotificationStatus.FAILED, (AttemptOutcome.PERMANENT,)),
        (NotificationStatus.QUEUED, (AttemptOutcome.RETRYABLE,)),  # waiting to retry: it may have arrived
        (NotificationStatus.SENDING, ()),  # claimed by a worker
    ],
)
async def test_once_sending_has_started_cancelling_is_a_409(client, status, attempts):
    accepted = await _accepted(client)
    await _finish(accepted["id"], status, *attempts)

    response = await client.post(f"/notifications/{accepted['id']}/cancel", headers=ORDERS)

    assert response.status == 409
    problem = await response.json()
    assert problem["type"].endswith("/not-cancellable")
    assert f"this notification is {status}" in problem["detail"]
    assert (await Notification.get(id=accepted["id"])).status is status


async def test_another_callers_notification_cannot_be_cancelled(client):
    accepted = await _accepted(client)

    response = await client.post(f"/notifications/{accepted['id']}/cancel", headers=MARKETING)

    assert response.status == 404
    assert (await Notification.get(id=accepted["id"])).status is NotificationStatus.QUEUED


async def test_cancelled_notifications_can_be_listed(client):
    kept = await _accepted(client)
    cancelled = await _accepted(client)
    await client.post(f"/notifications/{cancelled['id']}/cancel", headers=ORDERS)

    response = await client.get("/notifications", params={"status": "cancelled"}, headers=ORDERS)

    assert [n["id"] for n in (await response.json())["data"]] == [cancelled["id"]]
    assert kept["id"] != cancelled["id"]
