"""`POST /orders` against its ceiling, and what the INFO access log costs it, in one run.

Three processes measured in turn, each on a freshly seeded database, in rounds
(so drift on a shared machine hits all three alike):
- the ceiling, `benchmarks/baselines/static_sql_orders.py`: the same user lookup,
  order, change and outbox inserts in one transaction, as static SQL in a bare
  aiohttp handler;
- ours at LOG_LEVEL=INFO, the production default: bearer auth, rate limit,
  request id, metrics, tracing, validation, idempotency, the outbox, and one
  access-log line per request;
- ours at LOG_LEVEL=WARNING: the same with no access-log line written.
Both of ours run with the relay off (an API-only process), so the figure is the
request path's own cost, not the delivery's.

Rows: ours at INFO / the ceiling (target at least 0.9), and the access log's
cost, 1 - INFO / WARNING (target at most 0.05). A bare aiohttp handler with no
database is measured once, to show how much of the ceiling is the database.

Load: `wrk -t1 -c16 -d10s --latency` with `post_json.lua` (see benchmarks/wrk.py).

Run: `python -m benchmarks.orders_ceiling`; `BENCH_DATABASE=postgres` for
PostgreSQL. `BENCH_SECONDS` sets each wrk run's length (default 10),
`BENCH_ROUNDS` the number of rounds (default 2).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import harness, stack, wrk
from benchmarks.orders_write import bare_aiohttp
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


def static_sql_ceiling(workdir: Path, database_url: str) -> ServiceProcess:
    port = free_port()
    env = {"STATIC_SQL_PORT": str(port), "STATIC_SQL_DATABASE_URL": database_url}
    return ServiceProcess("benchmarks.baselines.static_sql_orders", env, port, workdir / "ceiling.log")


def api_only(workdir: Path, database_url: str, log_level: str) -> ServiceProcess:
    """Our orders service as deployed API-only (relay off), at the given log level."""
    return stack.orders_service(
        workdir, database_url, stack.NO_GATEWAY, ORDERS_RELAY_ENABLED="false", LOG_LEVEL=log_level
    )


def measure(url: str, token: str) -> wrk.WrkResult:
    wrk.warm_up(f"{url}/orders", token=token, body=stack.ORDER_JSON)
    return wrk.run(f"{url}/orders", seconds=SECONDS, token=token, body=stack.ORDER_JSON)


@dataclass(frozen=True)
class Round:
    ceiling: wrk.WrkResult
    info: wrk.WrkResult
    warning: wrk.WrkResult

    @property
    def ratio(self) -> float:
        return self.info.requests_per_second / self.ceiling.requests_per_second

    @property
    def log_cost(self) -> float:
        return 1 - self.info.requests_per_second / self.warning.requests_per_second


def fresh_database(databases, workdir: Path) -> str:
    """An emptied, migrated orders database with the demo users in it."""
    url = databases.database_url("orders", orders_tortoise_config, workdir)
    api_only(workdir, url, "WARNING").run("seed")
    return url


def one_round(databases, workdir: Path, memory: harness.PeakMemory) -> Round:
    ceiling_process = static_sql_ceiling(workdir, fresh_database(databases, workdir))
    with harness.running(ceiling_process, memory, "static-SQL ceiling") as ceiling:
        stack.check_order_is_placed(ceiling.url)
        ceiling_result = measure(ceiling.url, stack.ADMIN)
    results = {}
    for level in ("INFO", "WARNING"):
        service = api_only(workdir, fresh_database(databases, workdir), level)
        with harness.running(service, memory, f"orders service (relay off, {level})"):
            stack.check_order_is_placed(service.url)
            results[level] = measure(service.url, stack.ADMIN)
    return Round(ceiling_result, results["INFO"], results["WARNING"])


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        with harness.running(bare_aiohttp(workdir), memory, "bare aiohttp (no database)") as bare:
            bare_result = measure(bare.url, "-")
        rounds = [one_round(databases, workdir, memory) for _ in range(ROUNDS)]
    rows = [
        "| round | static-SQL ceiling req/s | ceiling / bare aiohttp | ours, INFO req/s "
        "| ours, WARNING req/s | **POST /orders full path / static-SQL ceiling** "
        "| **INFO access log cost** (1 - INFO / WARNING) "
        "| ours p50 / p99 (INFO) | ceiling p50 / p99 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, result in enumerate(rounds, 1):
        rows.append(
            f"| {number} | {result.ceiling.requests_per_second:.0f} "
            f"| {result.ceiling.requests_per_second / bare_result.requests_per_second:.3f} "
            f"| {result.info.requests_per_second:.0f} | {result.warning.requests_per_second:.0f} "
            f"| **{result.ratio:.2f}** | **{result.log_cost:.3f}** "
            f"| {result.info.p50_ms:.1f} / {result.info.p99_ms:.1f} ms "
            f"| {result.ceiling.p50_ms:.1f} / {result.ceiling.p99_ms:.1f} ms |"
        )
    rows.append(
        f"| median | | | | | **{statistics.median(r.ratio for r in rounds):.2f}** "
        f"| **{statistics.median(r.log_cost for r in rounds):.3f}** | | |"
    )
    harness.write_results(
        f"orders_ceiling_{database}",
        f"POST /orders full path / static-SQL ceiling, and the INFO access log's cost ({database}, "
        f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s, {ROUNDS} rounds)",
        [
            *rows,
            "",
            f"Bare aiohttp handler, no database: {bare_result.requests_per_second:.0f} req/s.",
            "",
            *memory.table(),
        ],
        [
            "Ceiling: `benchmarks/baselines/static_sql_orders.py`, a bare aiohttp handler sending the "
            "statements ours sends (user lookup; order, change and outbox inserts in one transaction) as "
            "static parameterised SQL straight to asyncpg (no pool reset) or aiosqlite.",
            "Ours: the orders service API-only (relay off), every layer on: auth, rate limit, request id, "
            "metrics, tracing (no exporter), validation, idempotency, outbox. INFO is the production "
            "default.",
            "Targets: full path / ceiling at least 0.9; the access log at most 0.05 of throughput.",
            "Each process gets a freshly seeded database; latencies are closed-loop at saturation (16 "
            "connections), so mostly queueing.",
        ],
    )


if __name__ == "__main__":
    main()
