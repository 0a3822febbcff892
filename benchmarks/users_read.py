"""`GET /users/?limit=100` as the tables grow: 100, 1,000 and 10,000 users with 10 orders each.

For each size, from the same orders-service process:
- requests/s and p50/p99 of `GET /users/?limit=100` (100 users and their 1,000
  orders per page), load from `wrk -t1 -c16 -d8s --latency` with the bearer header;
- the baseline, `GET /healthz` on the same process (no auth, no database), so
  the ratio is the cost of the read path: auth, middleware, one query that
  writes the page's JSON, and sending 470 KiB;
- SQL statements per request, counted in this process from the tortoise.db_client
  log against the same database (as benchmarks/query_count.py does);
- the service's peak RSS so far (VmHWM is a high-water mark, so it only grows).
The fill is bulk inserts through tortoise, then ANALYZE.
The relay is off: a read touches no outbox, and its polling would share the core.

Then, for each size, the page against its ceilings (`benchmarks/baselines/users_page.py`, its own
process on the same database), measured in the same run, each twice, in one order and then the
reverse, so that a drift in the machine's load weighs on all alike:
- the same page, in the same bytes, written by the same query, sent by a bare handler;
- on PostgreSQL also the textbook `json_agg(json_build_object(...))` page (same values, PostgreSQL's
  blanks).
Before measuring, the bytes are compared: ours and the same-bytes ceiling must be equal, and the
json_agg page must hold the same values.

Run: `python -m benchmarks.users_read`; `BENCH_DATABASE=postgres` for PostgreSQL.
`BENCH_SECONDS` sets each wrk run's length (default 8).
"""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import tempfile
from pathlib import Path

import orjson
import requests
from aiohttp.test_utils import TestClient, TestServer
from tortoise import Tortoise, connections

from benchmarks import harness, stack, wrk
from benchmarks.query_count import SqlCounter
from orders_service.app import create_app
from orders_service.db import orders_tortoise_config
from orders_service.models import DNAKitOrder, User
from orders_service.settings import OrdersSettings
from tests.processes import ServiceProcess, free_port

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


def ceiling_service(workdir: Path, database_url: str) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        "benchmarks.baselines.users_page",
        {"USERS_PAGE_PORT": str(port), "USERS_PAGE_DATABASE_URL": database_url},
        port,
        workdir / "users-page-ceiling.log",
    )


def _same_answers(ours: str, ceiling: str, json_agg: str | None) -> None:
    """Ours and the ceiling answer the very same bytes; the json_agg page holds the same values."""
    headers = stack.auth(stack.SUPPORT)
    mine = requests.get(ours + PAGE, headers=headers, timeout=30).content
    if requests.get(ceiling + PAGE, headers=headers, timeout=30).content != mine:
        raise SystemExit("the ceiling's page is not byte for byte ours; its figures would not compare")
    if json_agg is not None:
        textbook = requests.get(json_agg + "?limit=100", headers=headers, timeout=30).content
        if orjson.loads(textbook) != orjson.loads(mine):
            raise SystemExit("the json_agg page does not hold our values; its figures would not compare")


def _alternately(urls: dict[str, str]) -> dict[str, float]:
    """Mean requests/s at each url, each run twice, in an order and then its reverse (A B C C B A)."""
    order = [*urls, *reversed(urls)]
    rates: dict[str, list[float]] = {name: [] for name in urls}
    for name in order:
        rates[name].append(wrk.run(urls[name], seconds=SECONDS, token=stack.SUPPORT).requests_per_second)
    return {name: statistics.mean(runs) for name, runs in rates.items()}


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    rows = [
        f"| users x orders | GET {PAGE} req/s | p50 | p99 | GET /healthz req/s (baseline) | p50 | p99 "
        "| ratio to /healthz | SQL statements per request | response size | service peak RSS so far |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    postgres = database == "postgres"
    ceiling_name = "json_agg" if postgres else "SQLite JSON-functions"
    ratios = [
        "| users x orders | ours req/s | same-bytes ceiling req/s | ours / same-bytes ceiling "
        + ("| json_agg(json_build_object) req/s | ours / json_agg ceiling " if postgres else "")
        + "|",
        "|---|---|---|---|" + ("---|---|" if postgres else ""),
    ]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        database_url = databases.database_url("orders", orders_tortoise_config, workdir)
        orders = stack.orders_service(workdir, database_url, stack.NO_GATEWAY, ORDERS_RELAY_ENABLED="false")
        ceiling = ceiling_service(workdir, database_url)
        with (
            harness.running(orders, memory, "orders service (relay off)"),
            harness.running(ceiling, memory, f"{ceiling_name} ceiling (bare aiohttp)"),
        ):
            wrk.warm_up(orders.url + PAGE, token=stack.SUPPORT)
            wrk.warm_up(ceiling.url + PAGE, token=stack.SUPPORT)
            json_agg_url = ceiling.url + "/users/json_agg" if postgres else None
            have = 0
            for size in SIZES:
                asyncio.run(_grow(database_url, have, size))
                have = size
                statements, size_bytes = asyncio.run(_statements_and_bytes(database_url))
                _same_answers(orders.url, ceiling.url, json_agg_url)
                urls = {"same_bytes": ceiling.url + PAGE, "ours": orders.url + PAGE}
                if json_agg_url is not None:
                    urls = {"json_agg": json_agg_url + "?limit=100", **urls}
                rate = _alternately(urls)
                ours, same_bytes = rate["ours"], rate["same_bytes"]
                row = f"| {size:,} x {ORDERS_EACH} | {ours:.0f} | {same_bytes:.0f} | {ours / same_bytes:.3f} "
                if json_agg_url is not None:
                    row += f"| {rate['json_agg']:.0f} | {ours / rate['json_agg']:.3f} "
                ratios.append(row + "|")
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
        [
            *rows,
            "",
            f"GET {PAGE} real / {ceiling_name} ceiling, measured in the same run:",
            "",
            *ratios,
            "",
            *memory.table(),
        ],
        [
            "Ceilings (benchmarks/baselines/users_page.py, a bare aiohttp process on the same database): "
            "the same-bytes one sends the page our endpoint's query writes, in our exact bytes, with no "
            "auth, middleware, validation or ORM and a pool without reset"
            + (
                "; the json_agg one writes the same values the textbook way, "
                "json_agg(json_build_object(...)), which PostgreSQL prints with blanks (not our bytes)."
                if postgres
                else "; on SQLite that query is json_object and json_group_array."
            ),
            "Ours and each ceiling are the mean of two runs, in one order then its reverse"
            + (
                " (json_agg, same-bytes, ours, ours, same-bytes, json_agg)."
                if postgres
                else " (ceiling, ours, ours, ceiling)."
            ),
            "Each page holds 100 users and their 1,000 orders whatever the table size; the baseline is "
            "GET /healthz on the same process.",
            "SQL statements: counted in process from the tortoise.db_client log against the same database.",
            "Latencies are closed-loop at saturation (16 connections), so mostly queueing.",
            "Peak RSS: VmHWM of the service process, read after each size and just before it was stopped.",
        ],
    )


if __name__ == "__main__":
    main()
