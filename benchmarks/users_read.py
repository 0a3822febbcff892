"""`GET /users/?limit=100` as the tables grow: 100, 1,000 and 10,000 users with 10 orders each.

For each size, from the same orders-service process:
- requests/s and p50/p99 of `GET /users/?limit=100` (100 users and their 1,000
  orders per page), load from `wrk -t1 -c16 -d8s --latency` with the bearer header;
- the baseline, `GET /healthz` on the same process (no auth, no database), so
  the ratio is the cost of the read path: auth, two queries, 1,100 rows to
  models to JSON;
- SQL statements per request, counted in this process from the tortoise.db_client
  log against the same database (as benchmarks/query_count.py does);
- the service's peak RSS so far (VmHWM is a high-water mark, so it only grows).
The fill is bulk inserts through tortoise, then ANALYZE.
The relay is off: a read touches no outbox, and its polling would share the core.

Run: `python -m benchmarks.users_read`; `BENCH_DATABASE=postgres` for PostgreSQL.
`BENCH_SECONDS` sets each wrk run's length (default 8).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise, connections

from benchmarks import harness, stack, wrk
from benchmarks.query_count import SqlCounter
from orders_service.app import create_app
from orders_service.db import orders_tortoise_config
from orders_service.models import DNAKitOrder, User
from orders_service.settings import OrdersSettings

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
SIZES = (100, 1_000, 10_000)
ORDERS_EACH = 10
PAGE = "/users/?limit=100"
BATCH = 2_000
KIT = "targeted-sequencing"


async def _grow(database_url: str, have: int, want: int) -> None:
    """Add users have..want-1, each with ORDERS_EACH orders, in bulk inserts."""
    await Tortoise.init(config=orders_tortoise_config(database_url))
    try:
        ids = [f"u_{n:06d}" for n in range(have, want)]
        await User.bulk_create(
            [User(id=user_id, name=f"User {user_id}", email=f"{user_id}@example.com") for user_id in ids],
            batch_size=BATCH,
        )
        await DNAKitOrder.bulk_create(
            [
                DNAKitOrder(user_id=user_id, sequencing_type=KIT, shipping_info=stack.SHIPPING)
                for user_id in ids
                for _ in range(ORDERS_EACH)
            ],
            batch_size=BATCH,
        )
        # Fresh statistics, as autovacuum would have soon after a bulk load: with the stale ones
        # PostgreSQL plans a parallel sequential scan of every order (17 ms, not 0.3 ms, at 100,000).
        await connections.get("default").execute_script("ANALYZE")
    finally:
        await Tortoise.close_connections()


async def _statements_and_bytes(database_url: str) -> tuple[int, int]:
    """SQL statements and response bytes of one `GET /users/?limit=100`, served in this process."""
    settings = OrdersSettings(
        APP_ENV="development", ORDERS_DATABASE_URL=database_url, ORDERS_RELAY_ENABLED="false"
    )
    counter = SqlCounter()
    sql_log = logging.getLogger("tortoise.db_client")
    async with TestClient(TestServer(create_app(settings))) as client:
        level = sql_log.level
        sql_log.setLevel(logging.DEBUG)
        sql_log.addHandler(counter)
        try:
            response = await client.get(PAGE, headers={"Authorization": "Bearer dev-support-token"})
            body = await response.read()
        finally:
            sql_log.removeHandler(counter)
            sql_log.setLevel(level)
        assert response.status == 200, body[:500]
    return counter.count, len(body)


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    rows = [
        f"| users x orders | GET {PAGE} req/s | p50 | p99 | GET /healthz req/s (baseline) | p50 | p99 "
        "| ratio to /healthz | SQL statements per request | response size | service peak RSS so far |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        database_url = databases.database_url("orders", orders_tortoise_config, workdir)
        orders = stack.orders_service(workdir, database_url, stack.NO_GATEWAY, ORDERS_RELAY_ENABLED="false")
        with harness.running(orders, memory, "orders service (relay off)"):
            wrk.warm_up(orders.url + PAGE, token=stack.SUPPORT)
            have = 0
            for size in SIZES:
                asyncio.run(_grow(database_url, have, size))
                have = size
                statements, size_bytes = asyncio.run(_statements_and_bytes(database_url))
                page = wrk.run(orders.url + PAGE, seconds=SECONDS, token=stack.SUPPORT)
                health = wrk.run(orders.url + "/healthz", seconds=SECONDS, token=stack.SUPPORT)
                peak = harness.tree_peak_rss_kib(orders.process.pid) / 1024
                rows.append(
                    f"| {size:,} x {ORDERS_EACH} | {page.requests_per_second:.0f} | {page.p50_ms:.1f} ms "
                    f"| {page.p99_ms:.1f} ms | {health.requests_per_second:.0f} | {health.p50_ms:.1f} ms "
                    f"| {health.p99_ms:.1f} ms | {page.requests_per_second / health.requests_per_second:.3f} "
                    f"| {statements} | {size_bytes / 1024:.0f} KiB | {peak:.0f} MiB |"
                )
    harness.write_results(
        f"users_read_{database}",
        f"GET {PAGE} as the tables grow ({database}, wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s)",
        [*rows, "", *memory.table()],
        [
            "Each page holds 100 users and their 1,000 orders whatever the table size; the baseline is "
            "GET /healthz on the same process.",
            "SQL statements: counted in process from the tortoise.db_client log against the same database.",
            "Latencies are closed-loop at saturation (16 connections), so mostly queueing.",
            "Peak RSS: VmHWM of the service process, read after each size and just before it was stopped.",
        ],
    )


if __name__ == "__main__":
    main()
