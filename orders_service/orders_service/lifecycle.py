"""What an order can be, and how it may move.

    placed ──▶ shipped ──▶ delivered ──▶ sample_received ──▶ completed
       │          │
       └──────────┴──▶ cancelled

`completed` and `cancelled` are final. A kit can be cancelled until it reaches
the user; after that the sample is on its way to the lab.
"""

from __future__ import annotations

from enum import StrEnum


class SequencingType(StrEnum):
    """The kits we sell. Whole-exome results are time-critical, hence SMS by default."""

    WHOLE_EXOME = "whole-exome-sequencing"
    WHOLE_GENOME = "whole-genome-sequencing"
    TARGETED = "targeted-sequencing"
    GENOTYPING_ARRAY = "genotyping-array"


class OrderStatus(StrEnum):
    PLACED = "placed"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    SAMPLE_RECEIVED = "sample_received"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class OrderNotificationStatus(StrEnum):
    """Where the order-placed notification is: not yet handed to the gateway, then the gateway's status
    (`sent`: the provider accepted it; `delivered`, `undelivered`, `bounced`: what the provider later
    reported; `queued` again while the gateway falls back to another channel)."""

    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"


class OutboxStatus(StrEnum):
    """pending until the gateway accepted it (sent), refused it for good (failed), or it was
    withdrawn before it was handed over (cancelled)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class OrderChangeKind(StrEnum):
    """What a member of staff or a machine did to an order (see `OrderChange`)."""

    PLACED = "placed"
    STATUS = "status"
    NOTIFICATION_RESENT = "notification_resent"
    NOTIFICATION_CANCELLED = "notification_cancelled"


class StaffRole(StrEnum):
    """admin places and changes; support reads."""

    ADMIN = "admin"
    SUPPORT = "support"


TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PLACED: frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED}),
    OrderStatus.SHIPPED: frozenset({OrderStatus.DELIVERED, OrderStatus.CANCELLED}),
    OrderStatus.DELIVERED: frozenset({OrderStatus.SAMPLE_RECEIVED}),
    OrderStatus.SAMPLE_RECEIVED: frozenset({OrderStatus.COMPLETED}),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


def allowed_next(status: OrderStatus) -> frozenset[OrderStatus]:
    return TRANSITIONS[status]
