"""Where a notification is in its life, and how each delivery attempt ended.

One vocabulary for every channel::

    queued ──claim──▶ sending ──provider accepted──▶ sent ──receipt──▶ delivered | undelivered | bounced
      ▲                  │                             │
      └──retry later─────┤                             └─ undelivered/bounced receipt or no `delivered`
      └──fallback hop────┼──────────────────────────────   within `confirm_within`: the next fallback
                         └──▶ failed (could not be handed over) ──POST …/retry──▶ queued
      queued ──POST …/cancel (before the first attempt)──▶ cancelled
    suppressed: the address is suppressed or opted out on the channel, and no fallback is left

A channel whose provider sends no receipts stops at `sent`. Receipts only move
a notification forward (`rank`): a late `sent` never undoes a `delivered`.
"""

from __future__ import annotations

from enum import StrEnum


class NotificationStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"

    @property
    def is_final(self) -> bool:
        """Nothing more will happen to it (a `sent` notification may still get a receipt)."""
        return self in FINAL

    @property
    def rank(self) -> int:
        """How far along it is: a receipt may only raise it."""
        return _RANK[self]


FINAL = frozenset(
    {
        NotificationStatus.DELIVERED,
        NotificationStatus.UNDELIVERED,
        NotificationStatus.BOUNCED,
        NotificationStatus.FAILED,
        NotificationStatus.CANCELLED,
        NotificationStatus.SUPPRESSED,
    }
)
_RANK = {
    NotificationStatus.QUEUED: 0,
    NotificationStatus.SENDING: 1,
    NotificationStatus.SENT: 2,
    NotificationStatus.UNDELIVERED: 3,
    NotificationStatus.BOUNCED: 3,
    NotificationStatus.DELIVERED: 4,
    NotificationStatus.FAILED: 4,
    NotificationStatus.CANCELLED: 4,
    NotificationStatus.SUPPRESSED: 4,
}


class ReceiptStatus(StrEnum):
    """What a provider's receipt may report about a message it accepted."""

    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    BOUNCED = "bounced"


class EventSource(StrEnum):
    """Who moved a notification: the caller, a delivery worker, the provider's receipt, an operator,
    or the gateway's own routing (a fallback hop after a receipt, or around a circuit that is open)."""

    CALLER = "caller"
    WORKER = "worker"
    PROVIDER = "provider"
    OPERATOR = "operator"
    GATEWAY = "gateway"


class CallbackStatus(StrEnum):
    """A status callback is pending (or being sent) until the caller accepts it, or is abandoned."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"


class TimerStatus(StrEnum):
    """A confirmation timer waits for its due time, is leased while checked, then is done."""

    WAITING = "waiting"
    CHECKING = "checking"
    DONE = "done"


class AttemptOutcome(StrEnum):
    SENT = "sent"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    SUPPRESSED = "suppressed"


class CircuitState(StrEnum):
    """A channel's circuit breaker: closed sends; open holds messages back; half-open lets one probe go."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
