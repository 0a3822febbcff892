"""Wake a worker the moment PostgreSQL announces new work: `LISTEN` on a connection of its own.

A pooled connection cannot listen: the pool's reset (`UNLISTEN *`) drops the listener each time
the connection goes back, and a listener must hold its connection anyway. So `Listener` opens one
connection outside the pool, with the ORM's settings, and keeps it. When it is lost (server
restart, `pg_terminate_backend`, network) it reconnects with capped backoff; the loss is logged
once and the return once, and nothing is raised to the worker. Notifications sent while nobody
listened are not replayed, so the worker is woken on every (re)connection too, and its poll stays
the safety net: a missed notification delays work by at most one poll, and loses nothing.

SQLite has no `NOTIFY`; there `listening` does nothing and workers keep polling.
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

log = logging.getLogger("apikit.listening")

RECONNECT = Backoff(base_seconds=0.5, max_seconds=30)
CHECK_SECONDS = 30.0  # an idle connection is asked this often whether it is still there
CHECK_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 10.0

Connect = Callable[[], Awaitable[Any]]


def connector(channel: str, connection_name: str = "default") -> Connect | None:
    """How to open a connection to the ORM's PostgreSQL database outside its pool (None on SQLite).

    It is named `<channel> listener` (`application_name`), so `pg_stat_activity` shows what it is."""
    client = connections.get(connection_name)
    if AsyncpgDBClient is None or not isinstance(client, AsyncpgDBClient):
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
