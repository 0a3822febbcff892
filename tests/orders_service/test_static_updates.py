"""`apikit.updates.Update` changes exactly what tortoise's `filter(...).update(...)` changes, and
refuses what it does not write (the queue's finish goes through it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apikit.updates import Update
from orders_service.lifecycle import OutboxStatus
from orders_service.models import OutboxMessage
from tests.orders_service.test_static_inserts import _row

UPDATE = Update(OutboxMessage)
LEASE = {"lease_owner": "host:1:abc:claim", "lease_expires_at": datetime(2030, 1, 1, tzinfo=UTC)}


async def _twins() -> tuple[OutboxMessage, OutboxMessage]:
    due = datetime.now(UTC)
    made = [await OutboxMessage.create(payload={"a": 1}, next_attempt_at=due, **LEASE) for _ in range(2)]
    return made[0], made[1]


async def test_an_update_writes_what_tortoise_writes(client):
    ours, theirs = await _twins()
    values = {
        "status": OutboxStatus.SENT,  # an enum
        "attempts": 3,
        "last_error": None,
        "payload": {"b": [1, "é"]},  # JSON
        "sent_at": datetime.now(UTC) + timedelta(minutes=5),
        "lease_owner": None,
        "lease_expires_at": None,
    }
    changed = await UPDATE.run(None, {"id": ours.id, "lease_owner": LEASE["lease_owner"]}, **values)
    await OutboxMessage.filter(id=theirs.id, lease_owner=LEASE["lease_owner"]).update(**values)
    assert changed == 1
    ours_row, their_row = await _row(OutboxMessage, ours.id), await _row(OutboxMessage, theirs.id)
    made = {"id": None, "created_at": None}  # each twin has its own
    assert {**ours_row, **made} == {**their_row, **made}
    assert (ours_row["status"], ours_row["lease_owner"]) == ("sent", None)


async def test_a_row_that_does_not_match_is_left_alone(client):
    ours, _ = await _twins()
    before = await _row(OutboxMessage, ours.id)
    lost_lease = {"id": ours.id, "lease_owner": "someone-else"}
    assert await UPDATE.run(None, lost_lease, status=OutboxStatus.SENT) == 0
    assert await UPDATE.run(None, {"id": ours.id, "notification_id": None}, attempts=7) == 1  # IS NULL
    after = await _row(OutboxMessage, ours.id)
    assert after == {**before, "attempts": 7}


async def test_what_it_cannot_write_is_refused_before_anything_is_sent(client):
    ours, _ = await _twins()
    with pytest.raises(TypeError, match="no plain column 'order'"):
        await UPDATE.run(None, {"id": ours.id}, order=None)
    with pytest.raises(TypeError, match=r"OutboxMessage\.id is the key or generated"):
        await UPDATE.run(None, {"lease_owner": LEASE["lease_owner"]}, id="obx_other")
    with pytest.raises(TypeError, match="at least one column"):
        await UPDATE.run(None, {}, attempts=1)
    assert (await _row(OutboxMessage, ours.id))["attempts"] == 0
