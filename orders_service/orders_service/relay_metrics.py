"""What an operator watches on the relay: rows waiting, how long the oldest has waited, refusals by cause."""

from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge

from orders_service.lifecycle import OutboxStatus
from orders_service.models import OutboxMessage

REFRESH_SECONDS = 5.0

# Causes a row was not accepted by the gateway, as `outbox_refusals_total{cause}` counts them.
TOKEN_REFUSED = "token_refused"  # noqa: S105 - a metric label
REJECTED = "rejected"
RATE_LIMITED = "rate_limited"
IN_FLIGHT_ELSEWHERE = "conflict"
GATEWAY_ERROR = "gateway_error"
UNREACHABLE = "unreachable"
BAD_ANSWER = "bad_answer"


def cause_of(status: int) -> str:
    """The cause a gateway status answers for."""
    if status in (401, 403):
        return TOKEN_REFUSED
    if status == 429:
        return RATE_LIMITED
    if status == 409:
        return IN_FLIGHT_ELSEWHERE
    if status >= 500 or status == 408:
        return GATEWAY_ERROR
    return REJECTED


class RelayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge(
            "outbox_pending", "Outbox rows not yet accepted by the gateway.", registry=registry
        )
        self.oldest_age = Gauge(
            "outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbox row has waited (0 when none).",
            registry=registry,
        )
        self.refusals = Counter(
            "outbox_refusals_total",
            "Hand-overs to the gateway that did not end in a 202, by cause.",
            ["cause"],
            registry=registry,
        )
        self._refreshed = float("-inf")

    async def refresh(self, now: datetime) -> None:
        """Re-count pending rows, at most every few seconds (the relay calls this on each loop turn)."""
        if time.monotonic() - self._refreshed < REFRESH_SECONDS:
            return
        self._refreshed = time.monotonic()
        pending = OutboxMessage.filter(status=OutboxStatus.PENDING)
        self.pending.set(await pending.count())
        oldest = await pending.order_by("created_at").first().values_list("created_at", flat=True)
        self.oldest_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
