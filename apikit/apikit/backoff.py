"""Capped exponential backoff with full jitter, shared by every retry loop.

Full jitter (a random wait between 0 and the exponential ceiling) spreads
retries from many clients apart instead of letting them arrive in waves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    base_seconds: float = 1.0
    max_seconds: float = 300.0
    max_retry_after_seconds: float = 3600.0

    def delay(self, failures: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait after `failures` failed tries; the other side's `Retry-After` is a floor."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** min(max(failures - 1, 0), 60))
        delay = rng.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_retry_after_seconds))
        return delay
