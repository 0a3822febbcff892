"""Where a notification is in its life, and how each delivery attempt ended.

queued ──claim──▶ sending ──▶ delivered
  │ ▲                │
  │ └──retry later───┤
  │                  └──▶ failed ──POST …/retry──▶ queued
  └──POST …/cancel (before the first attempt)──▶ cancelled
"""

from __future__ import annotations

from enum import StrEnum


class NotificationStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (NotificationStatus.DELIVERED, NotificationStatus.FAILED, NotificationStatus.CANCELLED)


class CallbackStatus(StrEnum):
    """A status callback is pending (or being sent) until the caller accepts it, or is abandoned."""

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    ABANDONED = "abandoned"


class AttemptOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
