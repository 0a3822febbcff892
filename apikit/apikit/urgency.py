"""Work that goes first where a database is one connection taken in turns (SQLite).

The services hold one SQLite connection, and every statement and transaction
takes it in turn. Under a bulk backlog the line is long: a transactional claim
of 2.5 ms waited 20 to 60 ms behind bulk claims and batch records. `urgent()` marks
the work in its block (and the tasks it starts) to be let in before any work
not so marked that waits; the holder is never interrupted, and urgent work goes
in the order it came. PostgreSQL has a pool of connections and ignores it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import chain
from types import TracebackType

_urgent: ContextVar[bool] = ContextVar("urgent", default=False)


@contextmanager
def urgent() -> Iterator[None]:
    """Database work in this block, and in tasks started from it, goes before work not so marked."""
    token = _urgent.set(True)
    try:
        yield
    finally:
        _urgent.reset(token)


def is_urgent() -> bool:
    """Whether the running code is in an `urgent()` block."""
    return _urgent.get()


class UrgentFirstLock:
    """`asyncio.Lock`, but a waiter in an `urgent()` block goes before the others (each kind in
    the order it came). One waiter at a time is woken, as asyncio's lock does."""

    def __init__(self) -> None:
        self._locked = False
        self._urgent: deque[asyncio.Future[bool]] = deque()
        self._others: deque[asyncio.Future[bool]] = deque()

    def locked(self) -> bool:
        return self._locked

    def _waiters(self) -> Iterator[asyncio.Future[bool]]:
        return chain(self._urgent, self._others)

    async def acquire(self) -> bool:
        if not self._locked and all(waiter.cancelled() for waiter in self._waiters()):
            self._locked = True
            return True
        line = self._urgent if is_urgent() else self._others
        waiter = asyncio.get_running_loop().create_future()
        line.append(waiter)
        try:
            try:
                await waiter
            finally:
                line.remove(waiter)
        except asyncio.CancelledError:
            if not self._locked:
                self._wake_up_next()  # pass on a wake-up this waiter may have had
            raise
        self._locked = True
        return True

    def release(self) -> None:
        if not self._locked:
            raise RuntimeError("Lock is not acquired.")
        self._locked = False
        self._wake_up_next()

    def _wake_up_next(self) -> None:
        """Wake the first urgent waiter, else the first other one, unless one is woken already
        and has not yet run (two woken would both take the lock)."""
        if any(waiter.done() and not waiter.cancelled() for waiter in self._waiters()):
            return
        for waiter in self._waiters():
            if not waiter.done():
                waiter.set_result(True)
                return

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
