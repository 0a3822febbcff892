"""The base of every domain error: raised by services and data access, never HTTP-aware.

Each service maps its error classes to problem types in one table; the error
middleware does the translation, so no view has to.
"""

from __future__ import annotations


class DomainError(Exception):
    """A rule of the domain was broken. `pointer` names the request member at fault, if any;
    `retry_after` (seconds) says the same request may succeed later."""

    def __init__(self, detail: str, *, pointer: str | None = None, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer
        self.retry_after = retry_after
