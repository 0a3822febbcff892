"""The ceiling for `POST /orders`: the same database work as static SQL in a bare aiohttp handler.

Per request, exactly the statements our endpoint sends, and no more: look the
user up, then in one transaction insert the order, its "placed" change and its
outbox row (the same columns and values ours writes), and answer 201 with the
order. The SQL is written once, parameterised, and sent straight to the driver
(asyncpg's pool without its per-release reset, or one aiosqlite connection with
tortoise's pragmas and one lock, as tortoise uses it). No auth, rate limit,
request id, metrics, validation, idempotency, tracing, logging or ORM.

So ours / this is what everything our endpoint does on top of the database
work costs; the database's own CPU (PostgreSQL shares the 2 cores) and the
round trips are in both.

Run: `python -m benchmarks.baselines.static_sql_orders serve`, with
STATIC_SQL_PORT and STATIC_SQL_DATABASE_URL (a migrated, seeded orders
database: `postgres://...` or `sqlite://path`).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from apikit.ids import new_id
from benchmarks.baselines.serving import ceiling_app, serve

USER = "SELECT id, name, email, phone_number, contacts FROM users WHERE id = {0}"
ORDER = (
    "INSERT INTO dna_kit_orders (id, user_id, sequencing_type, shipping_info, status, requested_channel, "
    "notification_channel, notification_id, notification_status, notification_reason, "
    "notification_sequence, placed_by, created_at, updated_at) "
    "VALUES ({0}, {1}, {2}, {3}, 'placed', {4}, NULL, NULL, 'pending', NULL, 0, {5}, {6}, {6})"
)
CHANGE = "INSERT INTO order_changes (order_id, kind, value, actor, at) VALUES ({0}, 'placed', NULL, {1}, {2})"
OUTBOX = (
    "INSERT INTO outbox_messages (id, order_id, payload, request_id, status, attempts, last_error, "
    "notification_id, traceparent, next_attempt_at, lease_owner, lease_expires_at, created_at, sent_at) "
    "VALUES ({0}, {1}, {2}, NULL, 'pending', 0, NULL, NULL, NULL, {3}, NULL, NULL, {3}, NULL)"
)
ACTOR = "token:admin-1"
# The handler for the database in use, set when it is opened.
PLACE = web.AppKey("place_order", Callable[[web.Request], Awaitable[web.Response]])
STATEMENTS = {"user": USER, "order": ORDER, "change": CHANGE, "outbox": OUTBOX}


def postgres(sql: str) -> str:
    return sql.format(*(f"${n}" for n in range(1, 8)))


def sqlite(sql: str) -> str:
    return sql.format(*(f"?{n}" for n in range(1, 8)))


def rows_for(body: dict[str, Any], user: dict[str, Any], now: datetime) -> tuple[str, dict[str, Any], str]:
    """The new order's id, its outbox payload, and the answer's JSON body."""
    order_id, outbox_id = new_id("ord"), new_id("obx")
    contacts = orjson.loads(user["contacts"]) if isinstance(user["contacts"], str) else user["contacts"]
    reachable = {"email": user["email"], "phone_number": user["phone_number"], **(contacts or {})}
    recipient = {"id": user["id"], "name": user["name"]} | {k: v for k, v in reachable.items() if v}
    payload = {
        "recipient": recipient,
        "message": f"Hi {{user_name}}, your order has been successfully placed. Reference: {order_id}.",
        "attributes": {"kit_type": body["sequencing_type"], "order_id": order_id},
        "reference": outbox_id,
    }
    stamp = now.isoformat().replace("+00:00", "Z")
    answer = {
        "id": order_id,
        "user_id": user["id"],
        "sequencing_type": body["sequencing_type"],
        "status": "placed",
        "shipping_info": body["shipping_info"],
        "notification": {
            "id": None,
            "requested_channel": body.get("notification_channel"),
            "channel": None,
            "status": "pending",
            "reason": None,
        },
        "placed_by": ACTOR,
        "created_at": stamp,
        "updated_at": stamp,
    }
    return outbox_id, payload, answer


def created(answer: dict[str, Any]) -> web.Response:
    return web.Response(
        body=orjson.dumps(answer),
        status=201,
        content_type="application/json",
        headers={"Location": f"/orders/{answer['id']}"},
    )


def not_found() -> web.Response:
    return web.Response(status=422, text="unknown user")


def _postgres(app: web.Application, pool: Any) -> None:
    sql = {name: postgres(statement) for name, statement in STATEMENTS.items()}

    async def place_order(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        async with pool.acquire() as connection:
            user = await connection.fetchrow(sql["user"], body["user_id"])
            if user is None:
                return not_found()
            now = datetime.now(UTC)
            outbox_id, payload, answer = rows_for(body, dict(user), now)
            order_id = answer["id"]
            async with connection.transaction():
                await connection.execute(
                    sql["order"],
                    order_id,
                    user["id"],
                    body["sequencing_type"],
                    orjson.dumps(body["shipping_info"]).decode(),
                    body.get("notification_channel"),
                    ACTOR,
                    now,
                )
                await connection.execute(sql["change"], order_id, ACTOR, now)
                await connection.execute(
                    sql["outbox"], outbox_id, order_id, orjson.dumps(payload).decode(), now
                )
        return created(answer)

    app[PLACE] = place_order


def _sqlite(app: web.Application, connection: Any) -> None:
    lock = asyncio.Lock()  # one connection: one transaction at a time, as tortoise does
    sql = {name: sqlite(statement) for name, statement in STATEMENTS.items()}

    async def place_order(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        async with lock:
            found = await connection.execute_fetchall(sql["user"], (body["user_id"],))
        if not found:
            return not_found()
        user = dict(found[0])
        now = datetime.now(UTC)
        outbox_id, payload, answer = rows_for(body, user, now)
        order_id, stamp = answer["id"], str(now)
        async with lock:
            await connection.execute("BEGIN")
            try:
                await connection.execute_insert(
                    sql["order"],
                    (
                        order_id,
                        user["id"],
                        body["sequencing_type"],
                        orjson.dumps(body["shipping_info"]).decode(),
                        body.get("notification_channel"),
                        ACTOR,
                        stamp,
                    ),
                )
                await connection.execute_insert(sql["change"], (order_id, ACTOR, stamp))
                await connection.execute_insert(
                    sql["outbox"], (outbox_id, order_id, orjson.dumps(payload).decode(), stamp)
                )
            except BaseException:
                await connection.rollback()
                raise
            await connection.commit()
        return created(answer)

    app[PLACE] = place_order


async def place_order(request: web.Request) -> web.Response:
    return await request.app[PLACE](request)


def create_app(database_url: str) -> web.Application:
    return ceiling_app(
        database_url,
        [web.post("/orders", place_order)],
        postgres=_postgres,
        sqlite=_sqlite,
    )


if __name__ == "__main__":
    serve(sys.argv[1:], "static_sql_orders", create_app, "STATIC_SQL", 8091)
