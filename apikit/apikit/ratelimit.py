"""Per-caller rate limits (moving window, in memory, per process) with an honest `Retry-After`.

The limits are written in the `limits` syntax (`50/second;1000/minute`) and
parsed by it. The counting is a log of hit times per caller and limit, kept
here: `limits`' in-memory storage starts a `threading.Timer` every 10 ms to
expire entries and inserts each hit at the front of a list, which profiling
showed on every `POST /orders`. A deque expires its old hits on the next
check, costs O(1) per hit amortised, and needs no thread; the event loop
makes the check atomic.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from limits import RateLimitItem, parse_many


class RateLimiter:
    """`check(key)` counts one request for `key` and says how long to wait if it is over a limit.

    A request refused by one limit is counted by none, as with `limits`' moving window."""

    def __init__(self, spec: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._limits: list[tuple[int, float]] = [_amount_and_seconds(item) for item in parse_many(spec)]
        self._hits: dict[str, list[deque[float]]] = {}
        self._clock = clock

    def check(self, key: str) -> int | None:
        """None if allowed; else whole seconds until the window lets the next request through."""
        now = self._clock()
        logs = self._hits.get(key)
        if logs is None:
            logs = self._hits[key] = [deque() for _ in self._limits]
        for (amount, seconds), log in zip(self._limits, logs, strict=True):
            cutoff = now - seconds
            while log and log[0] <= cutoff:
                log.popleft()
            if len(log) >= amount:
                # The oldest hit still in the window leaves it `seconds` after it was made.
                return max(1, math.ceil(log[len(log) - amount] + seconds - now))
        for log in logs:
            log.append(now)
        return None


def _amount_and_seconds(item: RateLimitItem) -> tuple[int, float]:
    return item.amount, float(item.get_expiry())
