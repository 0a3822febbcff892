"""Alert-worthy conditions logged once when they start and once when they end, not once per row."""

from __future__ import annotations

import logging


class ConditionLog:
    """Remembers which conditions are active, so a thousand rows hitting the same cause log one line."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.active: dict[str, str] = {}

    def raised(self, condition: str, message: str, *, level: int = logging.ERROR, **extra: object) -> None:
        """Log `message` unless `condition` is already active (with the same message)."""
        if self.active.get(condition) == message:
            return
        self.active[condition] = message
        self.logger.log(level, message, extra={"condition": condition, **extra})

    def cleared(self, condition: str, message: str) -> None:
        """Log `message` once if `condition` was active."""
        if self.active.pop(condition, None) is not None:
            self.logger.info(message, extra={"condition": condition})
