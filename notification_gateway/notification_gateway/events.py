"""A notification's history: every change of status is an event, and most are told to the caller.

An event is written in the same transaction as the change it records, numbered
per notification (`sequence`), and, unless the caller made the change itself,
a status callback is owed for it, so the caller hears of `sent`, `delivered`,
`bounced`, a fallback hop, `suppressed`... in order, and can tell by the
sequence number when a retried callback is older than one it already has.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F

from apikit.inserts import Insert
from apikit.returning import update_returning
from notification_gateway.callbacks import owe_callback
from notification_gateway.models import Notification, NotificationEvent
from notification_gateway.status import EventSource, NotificationStatus

MAX_REASON_CHARS = 200
INSERT_EVENT = Insert(NotificationEvent)  # every event not written in a batch: its SQL built once


def counted_event() -> dict:
    """The update that numbers one more event of a notification, to write with a change of it."""
    return {"event_count": F("event_count") + 1}


async def next_sequence(notification_id: str, connection: BaseDBAsyncClient) -> int:
    """Number the notification's next event (one statement)."""
    rows = Notification.filter(id=notification_id).using_db(connection)
    [row] = await update_returning(rows.update(**counted_event()), '"event_count"', connection)
    return row["event_count"]


async def record_event(
    notification: Notification,
    status: NotificationStatus,
    *,
    channel: str,
    source: EventSource,
    now: datetime,
    connection: BaseDBAsyncClient,
    reason: str | None = None,
    kind: str | None = None,
    tell_caller: bool = True,
    sequence: int | None = None,
) -> NotificationEvent:
    """Write the event (and the callback it owes); call inside the transaction making the change.

    `kind` names the change in the callback's type when the status alone does not
    (`fallback`: the notification moved on to another channel); `tell_caller=False` keeps an
    event that changes nothing (a late receipt) out of the callbacks. `sequence` is given by a
    caller that numbered the event itself, in the statement that made the change (`next_sequence`).
    """
    if sequence is None:
        sequence = await next_sequence(notification.id, connection)
    event = new_event(
        notification, status, channel=channel, source=source, now=now, sequence=sequence, reason=reason
    )
    await INSERT_EVENT.save(connection, event)
    if tell_caller and source is not EventSource.CALLER:
        await owe_callback(notification, event, kind=kind or str(status), connection=connection)
    return event


def new_event(
    notification: Notification,
    status: NotificationStatus,
    *,
    channel: str,
    source: EventSource,
    now: datetime,
    sequence: int,
    reason: str | None = None,
) -> NotificationEvent:
    """The event, not yet saved: `record_event` saves one, a batch saves many in one statement."""
    return NotificationEvent(
        notification_id=notification.id,
        sequence=sequence,
        status=status,
        channel=channel,
        source=source,
        reason=reason[:MAX_REASON_CHARS] if reason else None,
        occurred_at=now,
    )
