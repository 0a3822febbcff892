"""Confirmed fallback: a notification `sent` on a channel with receipts must be confirmed in time.

When a send is recorded for a notification whose route says `confirm_within`
and which has a fallback left, a timer row is written in the same transaction,
due `confirm_within` later. Timers are a leased queue like the notifications
(`apikit.queue`), so a restart loses none and no two processes act on one: when
a timer falls due and its notification is still `sent` on the same channel (no
`delivered`, `undelivered` or `bounced` receipt came), the notification is
queued on its next fallback channel, in the transaction that closes the timer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Unpack

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.database import transaction
from apikit.queue import QueueWorker, WorkerOptions
from notification_gateway.models import ConfirmationTimer, Notification
from notification_gateway.receipts import hop
from notification_gateway.status import EventSource, NotificationStatus, TimerStatus


def describe(seconds: float) -> str:
    """`600` → `10m`, `90` → `90s`, for reasons people read."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


async def start_timer(
    notification: Notification, *, channel: str, now: datetime, connection: BaseDBAsyncClient
) -> None:
    """Call in the transaction recording the send."""
    await timer_for(notification, channel=channel, now=now).save(using_db=connection)


def timer_for(notification: Notification, *, channel: str, now: datetime) -> ConfirmationTimer:
    """The timer of a send recorded `now`, not yet saved (a batch saves many in one statement)."""
    return ConfirmationTimer(
        notification_id=notification.id,
        channel=channel,
        next_attempt_at=now + timedelta(seconds=notification.confirm_within_seconds or 0),
    )


class ConfirmationWorker(QueueWorker[ConfirmationTimer]):
    """Falls back when a timer comes due before its notification's `delivered` receipt."""

    model = ConfirmationTimer
    waiting, leased = TimerStatus.WAITING, TimerStatus.CHECKING

    def __init__(self, *, on_requeued: Callable[[], None], **options: Unpack[WorkerOptions]) -> None:
        super().__init__(**options)
        self.on_requeued = on_requeued

    async def process(self, timer: ConfirmationTimer) -> None:
        now = self.clock()
        async with transaction() as connection:
            if not await self.queue.finish(timer, connection, status=TimerStatus.DONE):
                return  # the lease ran out: another worker has the timer now
            notification = await Notification.get(id=timer.notification_id, using_db=connection)
            if notification.status is not NotificationStatus.SENT or notification.channel != timer.channel:
                return
            if not notification.fallback_channels:
                return
            waited = describe(notification.confirm_within_seconds or 0)
            hopped = await hop(
                notification,
                reason=f"no delivered receipt from {timer.channel} within {waited}",
                source=EventSource.WORKER,
                now=now,
                connection=connection,
            )
        if hopped:
            self.on_requeued()
