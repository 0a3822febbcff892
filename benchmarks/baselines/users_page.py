"""The ceilings for `GET /users/?limit=100`: the database writes the whole page, a bare handler sends it.

Two ways for the database to write the page, each one query, handed straight to the driver
(asyncpg's pool without its per-release reset, or one aiosqlite connection with tortoise's
pragmas and one lock, as tortoise uses it), with no auth, rate limit, request id, metrics,
validation, logging or ORM around it:

- `GET /users/`: the page in exactly the bytes our endpoint answers, from the query it sends
  (`orders_service.user_pages`): compact JSON by `string_agg` and `to_json` on PostgreSQL, by
  `json_object` and `json_group_array` on SQLite.
- `GET /users/json_agg` (PostgreSQL): the textbook form, `json_agg(json_build_object(...))`,
  with the same values and the same time formatting; PostgreSQL prints it with blanks
  (`{"id" : "u_1", ...}, {...}`), so it is not our bytes, but it shows what the compact form
  costs the database against the usual one.

So ours / either is what everything our endpoint does around that query costs; the database's
own CPU (PostgreSQL shares the 2 cores) and the round trip are in both.

Run: `python -m benchmarks.baselines.users_page serve`, with USERS_PAGE_PORT and
USERS_PAGE_DATABASE_URL (a migrated orders database: `postgres://...` or `sqlite://path`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from apikit.pagination import decode_cursor, encode_cursor
from benchmarks.baselines.serving import ceiling_app, serve
from orders_service.user_pages import PG_PAGE_SQL, SQLITE_PAGE_SQL, UserPage, page_body


def _time(column: str) -> str:
    formats = """'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
    exact = f"date_trunc('second', {column}) = {column}"
    return f"to_char({column} AT TIME ZONE 'UTC', CASE WHEN {exact} THEN {formats} END)"


JSON_AGG_SQL = f"""
WITH page AS (SELECT * FROM users WHERE ($1::varchar IS NULL OR id > $1) ORDER BY id LIMIT $2 + 1),
shown AS (SELECT * FROM page ORDER BY id LIMIT $2)
SELECT coalesce(json_agg(json_build_object(
    'id', u.id, 'name', u.name, 'email', u.email, 'phone_number', u.phone_number, 'address', u.address,
    'contacts', u.contacts, 'created_at', {_time("u.created_at")}, 'updated_at', {_time("u.updated_at")},
    'orders', coalesce((
        SELECT json_agg(json_build_object(
            'id', o.id, 'user_id', o.user_id, 'sequencing_type', o.sequencing_type, 'status', o.status,
            'shipping_info', o.shipping_info,
            'notification', json_build_object(
                'id', o.notification_id, 'requested_channel', o.requested_channel,
                'channel', o.notification_channel, 'status', o.notification_status,
                'reason', o.notification_reason),
            'placed_by', o.placed_by, 'created_at', {_time("o.created_at")},
            'updated_at', {_time("o.updated_at")}) ORDER BY o.created_at, o.id)
        FROM dna_kit_orders o WHERE o.user_id = u.id), '[]'::json)) ORDER BY u.id), '[]'::json),
    count(*), max(u.id), (SELECT count(*) FROM page) > $2
FROM shown u
"""  # noqa: S608 - static SQL, our own fragments

# The query for the database in use, set when it is opened: (after, limit) -> the page.
READ = web.AppKey("read", Callable[[str, str | None, int], Awaitable[UserPage]])


def _postgres(app: web.Application, pool: Any) -> None:
    queries = {"page": PG_PAGE_SQL, "json_agg": JSON_AGG_SQL}

    async def read(which: str, after: str | None, limit: int) -> UserPage:
        async with pool.acquire() as connection:
            data, count, last_id, more = await connection.fetchrow(queries[which], after, limit)
        return UserPage(data.encode(), count, last_id if more else None)

    app[READ] = read


def _sqlite(app: web.Application, connection: Any) -> None:
    lock = asyncio.Lock()  # one connection, one statement at a time, as tortoise does

    async def read(which: str, after: str | None, limit: int) -> UserPage:
        if which != "page":
            raise web.HTTPNotFound()
        async with lock, connection.execute(SQLITE_PAGE_SQL, (after, limit)) as cursor:
            data, count, last_id, more = await cursor.fetchone()
        return UserPage(data.encode(), count, last_id if more else None)

    app[READ] = read


async def _answer(request: web.Request, which: str) -> web.Response:
    cursor = request.query.get("cursor")
    page = await request.app[READ](
        which, decode_cursor(cursor) if cursor else None, int(request.query.get("limit", "50"))
    )
    next_cursor = encode_cursor(page.last_id) if page.last_id else None
    return web.Response(body=page_body(page, next_cursor), content_type="application/json")


async def users_page(request: web.Request) -> web.Response:
    return await _answer(request, "page")


async def users_json_agg(request: web.Request) -> web.Response:
    return await _answer(request, "json_agg")


def create_app(database_url: str) -> web.Application:
    return ceiling_app(
        database_url,
        [web.get("/users/", users_page), web.get("/users/json_agg", users_json_agg)],
        postgres=_postgres,
        sqlite=_sqlite,
    )


if __name__ == "__main__":
    serve(sys.argv[1:], "users_page", create_app, "USERS_PAGE", 8092)
