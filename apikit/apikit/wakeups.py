"""Waking workers in other processes at once, through PostgreSQL's `NOTIFY` and `LISTEN`.

A process that writes work but runs no worker of its own `announce`s each commit that added
some: an `Announcer` sends `NOTIFY <channel>` after the commit, on a pooled connection, in a
transaction of its own. Not inside the writer's transaction: PostgreSQL serialises the commits of
every transaction that notifies (a global lock held through the commit), which cut 16 concurrent
writers from about 3,000 commits/s to 500 on a 2-core machine. One NOTIFY is on its way at a time;
announcements made meanwhile fold into one more, so a burst of commits costs one or two.

A pooled connection cannot listen: the pool's reset (`UNLISTEN *`) drops the listener each time
the connection goes back, and a listener must hold its connection anyway. So `Listener` opens one
connection outside the pool, with the ORM's settings, and keeps it. When it is lost (server
restart, `pg_terminate_backend`, network) it reconnects with capped backoff; the loss is logged
once and the return once, and nothing is raised to the worker. Notifications sent while nobody
listened are not replayed, so the worker is woken on every (re)connection too, and its poll stays
the safety net: a missed notification delays work by at most one poll, and loses nothing.

SQLite has no `NOTIFY`; there `announcing` and `listening` do nothing, and workers poll.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

from tortoise import connections

from apikit.alerts import ConditionLog
from apikit.backoff import Backoff

try:  # PostgreSQL driver; absent where only SQLite is used.
    import asyncpg
    from tortoise.backends.asyncpg.client import AsyncpgDBClient
except ImportError:  # pragma: no cover
    asyncpg = AsyncpgDBClient = None

log = logging.getLogger("apikit.wakeups")

RECONNECT = Backoff(base_seconds=0.5, max_seconds=30)
CHECK_SECONDS = 30.0  # an idle connection is asked this often whether it is still there
CHECK_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 10.0

Connect = Callable[[], Awaitable[Any]]


def _postgres(connection_name: str) -> Any:
    """The ORM's client for `connection_name` if it is PostgreSQL (asyncpg), else None."""
    client = connections.get(connection_name)
    return client if AsyncpgDBClient is not None and isinstance(client, AsyncpgDBClient) else None


def connector(channel: str, connection_name: str = "default") -> Connect | None:
    """How to open a connection to the ORM's PostgreSQL database outside its pool (None on SQLite).

    It is named `<channel> listener` (`application_name`), so `pg_stat_activity` shows what it is."""
    client = _postgres(connection_name)
    if client is None:
        return None
    accepted = inspect.signature(asyncpg.connect).parameters
    options = {
        "host": client.host,
        "port": client.port,
        "user": client.user,
        "password": client.password,
        "database": client.database,
        "timeout": CONNECT_TIMEOUT_SECONDS,
        # The pool's own options (ssl, ...) where a single connection takes them too.
        **{name: value for name, value in client.extra.items() if name in accepted},
        "server_settings": client.server_settings | {"application_name": f"{channel} listener"},
    }

    async def connect() -> Any:
        return await asyncpg.connect(**options)

    return connect


class Listener:
    """Keeps one connection listening on `channel`; calls `wake` on every notification and on every
    (re)connection. `run` returns only when cancelled."""

    def __init__(
        self,
        connect: Connect,
        channel: str,
        wake: Callable[[], None],
        *,
        backoff: Backoff = RECONNECT,
        check_seconds: float = CHECK_SECONDS,
        rng: random.Random | None = None,
    ) -> None:
        self.connect = connect
        self.channel = channel
        self.wake = wake
        self.backoff = backoff
        self.check_seconds = check_seconds
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.conditions = ConditionLog(log)
        self.listening = asyncio.Event()  # set while a connection listens
        self.server_pid: int | None = None  # the listening backend's, while it listens

    async def run(self) -> None:
        failures = 0
        while True:
            try:
                connection = await self.connect()
            except Exception as exc:
                self._unheard(exc)
            else:
                try:
                    await self._listen(connection)
                except asyncio.CancelledError:
                    with suppress(Exception):  # a graceful goodbye, if the server is still there
                        await asyncio.wait_for(connection.close(), CHECK_TIMEOUT_SECONDS)
                    raise
                except Exception as exc:
                    self._unheard(exc)
                    if self.listening.is_set():  # it did listen: back off afresh
                        failures = 0
                finally:
                    self.listening.clear()
                    self.server_pid = None
                    connection.terminate()
            failures += 1
            await asyncio.sleep(self.backoff.delay(failures, self.rng))

    def _unheard(self, exc: BaseException) -> None:
        self.conditions.raised(
            "not_listening",
            f"not listening for {self.channel} notifications; polling until reconnected",
            level=logging.WARNING,
            error=type(exc).__name__,
        )

    async def _listen(self, connection: Any) -> None:
        """Listen until the connection is lost (raises) or found dead by a check (raises)."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        await connection.add_listener(self.channel, self._heard)
        self.server_pid = connection.get_server_pid()
        self.listening.set()
        self.conditions.cleared("not_listening", f"listening for {self.channel} notifications again")
        self.wake()  # what was announced while nobody listened
        while True:
            with suppress(TimeoutError):
                async with asyncio.timeout(self.check_seconds):
                    await lost.wait()
            if lost.is_set():
                raise ConnectionError("the listening connection was closed")
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await connection.execute("SELECT 1")

    def _heard(self, _connection: Any, _pid: int, _channel: str, _payload: str) -> None:
        self.wake()


@asynccontextmanager
async def listening(channel: str, wake: Callable[[], None]) -> AsyncIterator[Listener | None]:
    """For the block, call `wake` whenever `channel` is notified on the ORM's PostgreSQL database;
    on SQLite, do nothing (yields None)."""
    connect = connector(channel)
    if connect is None:
        yield None
        return
    listener = Listener(connect, channel, wake)
    task = asyncio.create_task(listener.run(), name=f"{channel} listener")
    try:
        yield listener
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


class Announcer:
    """Sends `NOTIFY <channel>` after commits that added work, one at a time."""

    def __init__(self, channel: str, connection_name: str = "default") -> None:
        self.channel = channel
        self.connection_name = connection_name
        self.conditions = ConditionLog(log)
        self._asked = False
        self._sender: asyncio.Task | None = None

    def announce(self) -> None:
        """Call after the commit; the NOTIFY is sent after it, or folded into one still to be sent."""
        self._asked = True
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send(), name=f"{self.channel} announcer")

    async def _send(self) -> None:
        while self._asked:
            self._asked = False
            try:
                client = connections.get(self.connection_name)
                await client.execute_query("SELECT pg_notify($1, '')", [self.channel])
            except Exception as exc:
                self.conditions.raised(
                    "not_announcing",
                    f"cannot notify {self.channel}; its listeners rely on their poll meanwhile",
                    level=logging.WARNING,
                    error=type(exc).__name__,
                )
            else:
                self.conditions.cleared("not_announcing", f"notifying {self.channel} again")

    async def close(self) -> None:
        """Stop sending; an announcement still on its way is dropped (listeners still poll)."""
        if self._sender is not None:
            self._sender.cancel()
            with suppress(asyncio.CancelledError):
                await self._sender


@asynccontextmanager
async def announcing(channel: str) -> AsyncIterator[Announcer | None]:
    """An `Announcer` for `channel` on the ORM's PostgreSQL database, for the block; None on SQLite."""
    if _postgres("default") is None:
        yield None
        return
    announcer = Announcer(channel)
    try:
        yield announcer
    finally:
        await announcer.close()
