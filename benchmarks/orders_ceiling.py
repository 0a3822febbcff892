"""`POST /orders` against its ceiling, and what the INFO access log costs it, in one run.

Three processes measured in turn, each on a freshly seeded database, in rounds,
in the opposite order every other round (so drift on a shared machine hits all
three alike):
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


@dataclass(frozen=True)
class Load:
    """wrk's figures, and the CPU the server process spent per request meanwhile.

    On a busy shared machine requests/s moves with everyone else's load; CPU per request
    moves much less, so it says whether a change made the path cheaper."""

    result: wrk.WrkResult
    cpu_us_per_request: float

    @property
    def requests_per_second(self) -> float:
        return self.result.requests_per_second


def measure(service: ServiceProcess, token: str) -> Load:
    url = f"{service.url}/orders"
    wrk.warm_up(url, token=token, body=stack.ORDER_JSON)
    before = harness.cpu_seconds(service.process.pid)
    result = wrk.run(url, seconds=SECONDS, token=token, body=stack.ORDER_JSON)
    spent = harness.cpu_seconds(service.process.pid) - before
    return Load(result, spent / max(result.requests, 1) * 1e6)


@dataclass(frozen=True)
class Round:
    ceiling: Load
    info: Load
    warning: Load

    @property
    def ratio(self) -> float:
        return self.info.requests_per_second / self.ceiling.requests_per_second

    @property
    def cpu_ratio(self) -> float:
        """Ceiling CPU per request / ours: the ratio with the machine's other load taken out."""
        return self.ceiling.cpu_us_per_request / self.info.cpu_us_per_request

    @property
    def log_cost(self) -> float:
        return 1 - self.info.requests_per_second / self.warning.requests_per_second

    @property
    def log_cpu_cost(self) -> float:
        return 1 - self.warning.cpu_us_per_request / self.info.cpu_us_per_request


def fresh_database(databases, workdir: Path) -> str:
    """An emptied, migrated orders database with the demo users in it."""
    url = databases.database_url("orders", orders_tortoise_config, workdir)
    api_only(workdir, url, "WARNING").run("seed")
    return url


def one_round(databases, workdir: Path, memory: harness.PeakMemory, *, reverse: bool = False) -> Round:
    """The ceiling, ours at INFO and ours at WARNING, in this order or (`reverse`) the other way round:
    alternating the order between rounds puts a drift of the machine on every process alike."""
    results = {}
    for name in ("ceiling", "INFO", "WARNING")[:: -1 if reverse else 1]:
        if name == "ceiling":
            process = static_sql_ceiling(workdir, fresh_database(databases, workdir))
            label = "static-SQL ceiling"
        else:
            process = api_only(workdir, fresh_database(databases, workdir), name)
            label = f"orders service (relay off, {name})"
        with harness.running(process, memory, label):
            stack.check_order_is_placed(process.url)
            results[name] = measure(process, stack.ADMIN)
    return Round(results["ceiling"], results["INFO"], results["WARNING"])


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        with harness.running(bare_aiohttp(workdir), memory, "bare aiohttp (no database)") as bare:
            bare_result = measure(bare, "-")
        rounds = [one_round(databases, workdir, memory, reverse=n % 2 == 1) for n in range(ROUNDS)]
    rows = [
        "| round | static-SQL ceiling req/s | ours, INFO req/s | ours, WARNING req/s "
        "| **POST /orders full path / static-SQL ceiling** | **INFO access log cost** "
        "| CPU µs/request: ceiling / INFO / WARNING | same two ratios by CPU per request "
        "| p50 / p99: ceiling, ours (INFO) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(rounds, 1):
        rows.append(
            f"| {number} | {r.ceiling.requests_per_second:.0f} | {r.info.requests_per_second:.0f} "
            f"| {r.warning.requests_per_second:.0f} | **{r.ratio:.2f}** | **{r.log_cost:.3f}** "
            f"| {r.ceiling.cpu_us_per_request:.0f} / {r.info.cpu_us_per_request:.0f} "
            f"/ {r.warning.cpu_us_per_request:.0f} | {r.cpu_ratio:.2f}, {r.log_cpu_cost:.3f} "
            f"| {r.ceiling.result.p50_ms:.1f} / {r.ceiling.result.p99_ms:.1f} ms, "
            f"{r.info.result.p50_ms:.1f} / {r.info.result.p99_ms:.1f} ms |"
        )
    rows.append(
        f"| median | | | | **{statistics.median(r.ratio for r in rounds):.2f}** "
        f"| **{statistics.median(r.log_cost for r in rounds):.3f}** "
        f"| | {statistics.median(r.cpu_ratio for r in rounds):.2f}, "
        f"{statistics.median(r.log_cpu_cost for r in rounds):.3f} | |"
    )
    bare_share = (
        statistics.median(r.ceiling.requests_per_second for r in rounds) / bare_result.requests_per_second
    )
    harness.write_results(
        f"orders_ceiling_{database}",
        f"POST /orders full path / static-SQL ceiling, and the INFO access log's cost ({database}, "
        f"wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s, {ROUNDS} rounds)",
        [
            *rows,
            "",
            f"Bare aiohttp handler, no database: {bare_result.requests_per_second:.0f} req/s "
            f"({bare_result.cpu_us_per_request:.0f} µs CPU/request); the ceiling reaches {bare_share:.3f} "
            "of it.",
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
            "Access log cost: 1 - INFO / WARNING. CPU µs/request: user + system time of the server "
            "process (all threads) during the run / requests; the database server's CPU is not in it. "
            "The CPU ratios (ceiling / ours; 1 - WARNING / INFO) barely move with the machine's other "
            "load, which requests/s do on a shared machine.",
            "Each process gets a freshly seeded database; odd rounds run ceiling, INFO, WARNING, even "
            "rounds the reverse; latencies are closed-loop at saturation (16 "
            "connections), so mostly queueing.",
        ],
    )


if __name__ == "__main__":
    main()
