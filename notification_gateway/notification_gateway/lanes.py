"""Priority lanes: transactional notifications (a password reset, an order confirmation) go before bulk
ones (a newsletter), and bulk ones use only a share of the delivery concurrency.

Workers claim due transactional work first on every turn; bulk work then fills
at most `bulk_share` of the slots, so a bulk backlog of any size leaves the rest
free for transactional sends that arrive meanwhile. The claim for each lane
walks `DueIndex` in due order and stops at its limit, never reading the other
lane's rows nor the finished ones.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise.expressions import Q
from tortoise.indexes import Index

from apikit.queue import Lane
from notification_gateway.status import NotificationStatus


class Priority(StrEnum):
    TRANSACTIONAL = "transactional"
    BULK = "bulk"


def delivery_lanes(bulk_share: float) -> tuple[Lane, ...]:
    """Transactional first, with every slot; then bulk, with `bulk_share` of them (at least one)."""
    return (
        Lane(Priority.TRANSACTIONAL.value, Q(priority=Priority.TRANSACTIONAL)),
        Lane(Priority.BULK.value, Q(priority=Priority.BULK), share=bulk_share),
    )


class DueIndex(Index):
    """(priority, next_attempt_at) over the rows still in the queue (queued or sending) only.

    A claim filters on exactly these statuses (PostgreSQL and SQLite then use the
    partial index) and orders by due time: the index hands over the first due rows
    of one lane, however many rows the other lane or history holds.
    """

    def __init__(self, *, fields: tuple[str, ...] | list[str], name: str | None = None) -> None:
        super().__init__(fields=fields, name=name)
        self.extra = f" WHERE status IN ('{NotificationStatus.QUEUED}', '{NotificationStatus.SENDING}')"
