"""What the database-backed ceilings share: the connections, the app and the serve command.

Each ceiling supplies its routes and, per database kind, a function that sets its handlers on the
app given the open connections: an asyncpg pool without per-release reset (the services' own
setting), or one aiosqlite connection with the services' pragmas."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiohttp import web

Wire = Callable[[web.Application, Any], None]
SQLITE_PRAGMAS = ("journal_mode=WAL", "journal_size_limit=16384", "foreign_keys=ON")


async def _postgres(url: str) -> AsyncIterator[Any]:
    import asyncpg

    async def no_reset(_connection: asyncpg.Connection) -> None:
        """Nothing to reset: a ceiling keeps no session state (asyncpg still ends a transaction)."""

    pool = await asyncpg.create_pool(url, min_size=1, max_size=5, reset=no_reset)
    try:
        yield pool
    finally:
        await pool.close()


async def _sqlite(path: str) -> AsyncIterator[Any]:
    import aiosqlite

    connection = await aiosqlite.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        await connection.execute(f"PRAGMA {pragma}")
    connection.row_factory = aiosqlite.Row
    try:
        yield connection
    finally:
        await connection.close()


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def ceiling_app(
    database_url: str, routes: Iterable[web.RouteDef], *, postgres: Wire, sqlite: Wire
) -> web.Application:
    """An app with `/healthz` and `routes`, wired by `postgres(app, pool)` or `sqlite(app, connection)`
    while its connections are open."""
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(list(routes))

    async def database(app: web.Application) -> AsyncIterator[None]:
        if database_url.startswith("sqlite://"):
            wire, opened = sqlite, _sqlite(database_url.removeprefix("sqlite://"))
        else:
            wire, opened = postgres, _postgres(database_url.replace("postgres://", "postgresql://", 1))
        async for connections in opened:
            wire(app, connections)
            yield

    app.cleanup_ctx.append(database)
    return app


def serve(
    argv: list[str], module: str, create_app: Callable[[str], web.Application], prefix: str, port: int
) -> None:
    """`python -m benchmarks.baselines.<module> serve`, on `<PREFIX>_DATABASE_URL` and `<PREFIX>_PORT`."""
    if argv != ["serve"]:
        raise SystemExit(f"usage: python -m benchmarks.baselines.{module} serve")
    app = create_app(os.environ[f"{prefix}_DATABASE_URL"])
    port = int(os.environ.get(f"{prefix}_PORT", str(port)))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)
