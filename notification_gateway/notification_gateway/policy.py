"""What happens after each delivery attempt: a pure decision, so it can be tested without clocks or I/O."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apikit.backoff import Backoff
from notification_gateway.status import AttemptOutcome, NotificationStatus


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """How many tries each channel gets, and how long to wait between them.

    Flow control lets some failures cost no attempt (a provider's pause, a circuit's probe), but
    only while the message has made fewer than `max_attempts_in_all` attempts on every channel
    together: a provider that answers `429 Retry-After` forever, or a circuit whose probes fail for
    days, must not keep one message in the queue for ever."""

    max_attempts: int = 5
    max_attempts_in_all: int = 50

    def counts(self, counted: bool, attempts_before: int) -> bool:
        """Whether an attempt uses up one of the channel's: flow control's answer (`counted`) until
        the message has used up its attempts in all."""
        return counted or attempts_before + 1 >= self.max_attempts_in_all


@dataclass(frozen=True)
class Next:
    """The notification's new state: its status, the fields to store with it, and, unless it just
    ended, how long until it is due again."""

    status: NotificationStatus
    updates: dict[str, Any]
    wait_seconds: float | None = None

    @property
    def leaves_queue(self) -> bool:
        """Sent, failed or suppressed: no worker claims it again (a receipt or a timer may move it)."""
        return self.status is not NotificationStatus.QUEUED

    @property
    def is_final(self) -> bool:
        return self.status.is_final


def next_state(
    *,
    outcome: AttemptOutcome,
    attempts_on_channel: int,
    fallback_channels: Sequence[str],
    retry_after: float | None,
    policy: RetryPolicy,
    now: datetime,
    rng: random.Random,
    counted: bool = True,
) -> Next:
    """Accepted by the provider is `sent`; a retryable failure waits and tries again until the channel's
    attempts run out; a permanent failure, running out, or a suppressed address moves to the next
    fallback channel, or ends it (`failed`, or `suppressed`).

    A retryable failure that is not `counted` (a circuit breaker's probe, a provider asking for a
    pause) waits as a counted one would, but leaves the attempts on the channel as they were."""
    tried = attempts_on_channel + 1
    if outcome is AttemptOutcome.SENT:
        return Next(NotificationStatus.SENT, {"attempts_on_channel": tried})
    if outcome is AttemptOutcome.RETRYABLE and not counted:
        wait = policy.delay(tried, rng, retry_after)
        return Next(
            NotificationStatus.QUEUED, {"attempts_on_channel": attempts_on_channel}, wait_seconds=wait
        )
    if outcome is AttemptOutcome.SUPPRESSED:
        tried = attempts_on_channel
    if outcome is AttemptOutcome.RETRYABLE and tried < policy.max_attempts:
        wait = policy.delay(tried, rng, retry_after)
        return Next(NotificationStatus.QUEUED, {"attempts_on_channel": tried}, wait_seconds=wait)
    if fallback_channels:
        return Next(
            NotificationStatus.QUEUED,
            {
                "channel": fallback_channels[0],
                "fallback_channels": list(fallback_channels[1:]),
                "attempts_on_channel": 0,
            },
            wait_seconds=0,
        )
    end = NotificationStatus.SUPPRESSED if outcome is AttemptOutcome.SUPPRESSED else NotificationStatus.FAILED
    return Next(end, {"attempts_on_channel": tried, "finished_at": now})
