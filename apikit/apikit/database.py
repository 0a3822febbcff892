"""Tortoise ORM lifecycle, readiness probe, and recognising an unreachable database."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Literal, get_args

from aiohttp import web
from tortoise import Tortoise, connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.connection import get_connections
from tortoise.exceptions import DBConnectionError
from tortoise.migrations import api as migrations_api
from tortoise.transactions import in_transaction

try:  # PostgreSQL driver; absent where only SQLite is used.
    import asyncpg
except ImportError:  # pragma: no cover
    asyncpg = None

PING_TIMEOUT_SECONDS = 2.0
_NUMBERED = re.compile(r"\$(\d+)")  # a numbered parameter in static SQL

log = logging.getLogger("apikit.database")


def tortoise_config(database_url: str, *, models: str, migrations: str) -> dict[str, Any]:
    """One app called `models` on one connection, timestamps in UTC."""
    return {
        "connections": {"default": database_url},
        "apps": {
            "models": {
                "models": [models],
                "default_connection": "default",
                "migrations": migrations,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def ensure_sqlite_directory(database_url: str) -> None:
    """SQLite creates the file but not its folder; make the folder."""
    if database_url.startswith("sqlite://") and ":memory:" not in database_url:
        path = database_url.removeprefix("sqlite://").split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def migrate(config: dict[str, Any]) -> None:
    """Apply every pending migration, then close the connections it opened."""
    ensure_sqlite_directory(config["connections"]["default"])
    try:
        await migrations_api.migrate(config=config)
    finally:
        await Tortoise.close_connections()


#: `PRAGMA synchronous` values a deployment may choose (FULL by default; NORMAL is an opt-in).
SqliteSynchronous = Literal["FULL", "NORMAL"]


async def _keep_session(_connection: Any) -> None:
    """Nothing to reset when a pooled connection is handed back: the services keep no session
    state (no SET, no session advisory locks, no LISTEN on pooled connections; a listener needs a
    connection of its own). asyncpg still rolls back a transaction left open and drops listeners.

    asyncpg's default reset (`SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`)
    is a round trip on every release: two more per order placed.
    """


def serving_connection(
    database_url: str, *, sqlite_synchronous: SqliteSynchronous = "FULL"
) -> dict[str, Any]:
    """The connection a running service uses: tortoise's own for the URL, with
    - on PostgreSQL, the pool's per-release reset made a no-op (`_keep_session`);
    - on SQLite, transactions begun without tortoise's extra COMMIT (`apikit.sqlite_client`),
      and `PRAGMA synchronous` as configured (FULL, SQLite's default, unless a deployment
      opts in to NORMAL).
    """
    if sqlite_synchronous not in get_args(SqliteSynchronous):
        raise ValueError(f"synchronous must be one of {', '.join(get_args(SqliteSynchronous))}")
    connection = expand_db_url(database_url)
    if connection["engine"] == "tortoise.backends.asyncpg":
        connection["credentials"]["reset"] = _keep_session
    elif connection["engine"] == "tortoise.backends.sqlite":
        connection["engine"] = "apikit.sqlite_client"
        connection["credentials"].setdefault("synchronous", sqlite_synchronous)
    return connection


def database_ctx(
    config: dict[str, Any], *, sqlite_synchronous: SqliteSynchronous = "FULL"
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A `cleanup_ctx` that opens the ORM on start and closes its connections on stop.

    `config` names its connection by URL (as migrations and commands use it); the service
    itself connects as `serving_connection` says."""
    database_url = config["connections"]["default"]
    serving = config | {
        "connections": {"default": serving_connection(database_url, sqlite_synchronous=sqlite_synchronous)}
    }

    async def database(_app: web.Application) -> AsyncIterator[None]:
        ensure_sqlite_directory(database_url)
        orm = await Tortoise.init(config=serving)
        try:
            yield
        finally:
            # Close through the context itself: teardown may run in another task.
            await orm.close_connections()

    return database


async def ping() -> None:
    """Raise unless the database answers `SELECT 1` within a short timeout."""
    async with asyncio.timeout(PING_TIMEOUT_SECONDS):
        await connections.get("default").execute_query("SELECT 1")


@asynccontextmanager
async def transaction() -> AsyncIterator[BaseDBAsyncClient]:
    """`in_transaction()`, with the outcome made certain when the connection dies at the end.

    The block's work is committed explicitly, so we know whether COMMIT succeeded.
    If the connection then dies while it is handed back to the pool, the work is
    saved and the error is only logged: answering "failed" would be a lie a
    client might act on. And whatever happens, this task stops routing queries
    to that connection (tortoise skips that reset when the hand-back raises,
    which would leave a long-lived worker loop on a dead connection).
    """
    context = in_transaction()
    committed = False
    try:
        async with context as connection:
            yield connection
            await connection.commit()
            committed = True
    except Exception as exc:
        if not committed:
            raise
        log.warning("connection lost after a commit; the work is saved", extra={"error": type(exc).__name__})
    finally:
        token = getattr(context, "token", None)
        if token is not None:
            with suppress(RuntimeError, ValueError):  # already reset, as it normally is
                get_connections().reset(token)


def in_dialect(sql: str, db: BaseDBAsyncClient) -> str:
    """Static SQL written with PostgreSQL's numbered parameters (`$1`), in `db`'s dialect: SQLite
    numbers them `?1`. A parameter may appear more than once; `$` must not occur in literals."""
    return sql if db.capabilities.dialect == "postgres" else _sqlite_numbered(sql)


@functools.cache  # the statements are constants, sent on hot paths
def _sqlite_numbered(sql: str) -> str:
    return _NUMBERED.sub(r"?\1", sql)


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) means the database cannot be reached."""
    unavailable: tuple[type[BaseException], ...] = (DBConnectionError, ConnectionError)
    if asyncpg is not None:
        unavailable += (
            asyncpg.PostgresConnectionError,
            asyncpg.InterfaceError,
            asyncpg.CannotConnectNowError,
            asyncpg.AdminShutdownError,
            asyncpg.InternalClientError,  # a pooled connection caught mid-termination
        )
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, unavailable):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
