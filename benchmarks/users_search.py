"""`GET /users/?q=…` over 100,000 users: by part of a name, by e-mail, by a phone number as typed.

The fill is 100,000 users with made-up names, e-mail addresses and (for half of them)
UK mobile numbers, their `search_text` written as the service writes it, then ANALYZE.
Each query is run with `wrk -t1 -c16` against one orders-service process, and the
plan PostgreSQL chooses for it is reported (on SQLite the search scans the table).

Run: `python -m benchmarks.users_search`; `BENCH_DATABASE=postgres` for PostgreSQL.
`BENCH_SECONDS` sets each wrk run's length (default 8).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
from pathlib import Path
from urllib.parse import quote

from tortoise import Tortoise, connections

from benchmarks import harness, stack, wrk
from orders_service.contacts import search_text
from orders_service.db import orders_tortoise_config
from orders_service.models import User
from orders_service.users import MATCHING_IDS_SQL, search_term

SECONDS = int(os.environ.get("BENCH_SECONDS", "8"))
USERS = 100_000
BATCH = 2_000
FIRST = ["Ada", "Alan", "Grace", "Rosalind", "Mary", "John", "Priya", "Wei", "Olu", "Sofia", "Liam", "Noor"]
LAST = ["Smith", "Jones", "Taylor", "Brown", "Khan", "Patel", "Nguyen", "Okafor", "Garcia", "Rossi"]
QUERIES = [
    ("part of a rare name", "lovel"),  # one user: Ada Lovelace
    ("a common name (a full page)", "smith"),
    ("an e-mail address", "user-054321@example.com"),
    ("a phone number as typed", "07451 277972"),
    ("no match", "zzzz"),
]


def _user(n: int, rng: random.Random) -> User:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}-{n}"
    email = f"user-{n:06d}@example.com"
    phone = f"+4474{rng.randrange(10**8):08d}" if n % 2 else None
    return User(
        id=f"u_{n:06d}",
        name=name,
        email=email,
        phone_number=phone,
        search_text=search_text(name, email, phone),
    )


async def _fill(database_url: str) -> None:
    rng = random.Random(7)
    await Tortoise.init(config=orders_tortoise_config(database_url))
    try:
        users = [_user(n, rng) for n in range(USERS - 1)]
        needle = ("Ada Lovelace", "ada@example.com", "+447451277972")
        users.append(
            User(
                id="u_ada",
                name=needle[0],
                email=needle[1],
                phone_number=needle[2],
                search_text=search_text(*needle),
            )
        )
        await User.bulk_create(users, batch_size=BATCH)
        await connections.get("default").execute_script("ANALYZE")
    finally:
        await Tortoise.close_connections()


async def _plan(database_url: str, q: str) -> str:
    """How PostgreSQL finds the matches (the first plan line that names the users table)."""
    if not database_url.startswith("postgres"):
        return "table scan (SQLite)"
    await Tortoise.init(config=orders_tortoise_config(database_url))
    try:
        _, rows = await connections.get("default").execute_query(
            f"EXPLAIN {MATCHING_IDS_SQL}", [search_term(q, "GB"), None, 51]
        )
    finally:
        await Tortoise.close_connections()
    lines = [row["QUERY PLAN"].strip(" ->") for row in rows]
    scans = [line.split("  (")[0] for line in lines if " on users" in line]
    return scans[-1] if scans else lines[0]


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    rows = [
        "| search over 100,000 users | q | req/s | p50 | p99 | plan |",
        "|---|---|---|---|---|---|",
    ]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        database_url = databases.database_url("orders", orders_tortoise_config, workdir)
        asyncio.run(_fill(database_url))
        orders = stack.orders_service(workdir, database_url, stack.NO_GATEWAY, ORDERS_RELAY_ENABLED="false")
        with harness.running(orders, memory, "orders service (relay off)"):
            for what, q in QUERIES:
                url = f"{orders.url}/users/?limit=50&q={quote(q)}"
                wrk.warm_up(url, token=stack.SUPPORT)
                result = wrk.run(url, seconds=SECONDS, token=stack.SUPPORT)
                plan = asyncio.run(_plan(database_url, q))
                rows.append(
                    f"| {what} | `{q}` | {result.requests_per_second:.0f} | {result.p50_ms:.1f} ms "
                    f"| {result.p99_ms:.1f} ms | {plan} |"
                )
    harness.write_results(
        f"users_search_{database}",
        f"GET /users/?q= over {USERS:,} users "
        f"({database}, wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s)",
        [*rows, "", *memory.table()],
        [
            "Each answer is at most 50 users with their orders (these users have none).",
            "On PostgreSQL `search_text LIKE '%term%'` is served by a pg_trgm GIN index (migration 0004).",
            "Latencies are closed-loop at saturation (16 connections), so mostly queueing.",
        ],
    )


if __name__ == "__main__":
    main()
