"""What the database-backed ceilings share: one app per database kind, served like our services.

Each ceiling supplies its routes and an async generator per database kind that opens its
connections into the app for the app's lifetime (`_postgres(app, url)`, `_sqlite(app, path)`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable

from aiohttp import web

Opener = Callable[[web.Application, str], AsyncIterator[None]]


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def ceiling_app(
    database_url: str, routes: Iterable[web.RouteDef], *, postgres: Opener, sqlite: Opener
) -> web.Application:
    """An app with `/healthz` and `routes`, its connections opened by `postgres` or `sqlite`."""
    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_routes(list(routes))

    async def database(app: web.Application) -> AsyncIterator[None]:
        if database_url.startswith("sqlite://"):
            opened = sqlite(app, database_url.removeprefix("sqlite://"))
        else:
            opened = postgres(app, database_url.replace("postgres://", "postgresql://", 1))
        async for _ in opened:
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
