"""Per-caller rate limits (moving window, in memory, per process) with an honest `Retry-After`."""

from __future__ import annotations

import math
import time

from limits import parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class RateLimiter:
    """`check(key)` counts one request for `key` and says how long to wait if it is over a limit."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self._limits = parse_many(spec)
        self._strategy = MovingWindowRateLimiter(MemoryStorage())

    def check(self, key: str) -> int | None:
        """None if allowed; else whole seconds until the window lets the next request through."""
        for limit in self._limits:
            if not self._strategy.hit(limit, key):
                reset_at, _remaining = self._strategy.get_window_stats(limit, key)
                return max(1, math.ceil(reset_at - time.time()))
        return None
