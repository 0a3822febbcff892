"""`POST /orders` requests/s and latency, beside a bare aiohttp handler measured in the same run.

Ours does everything a real order does: bearer auth, rate limiting, request id,
metrics, schema validation, the user lookup, then the order and its outbox row
in one transaction; meanwhile the relay sends each row to a real gateway, which
delivers it to the sandbox and calls back. The baseline
(`benchmarks/baselines/bare_aiohttp.py`, its own process) parses the same JSON
and answers 201 with no database. Ratio = ours / bare. A third row runs ours
with the relay off (an API-only process, as in a split deployment), to tell the
request path's own cost from the CPU the delivery running beside it takes.

Load: `wrk -t1 -c16 -d10s --latency` with `post_json.lua` (one load-generator
thread, so on 2 cores the other core is left to the service; 16 connections
keep a single-process server saturated). Latencies are therefore closed-loop,
mostly queueing.

Run: `python -m benchmarks.orders_write`; `BENCH_DATABASE=postgres` for PostgreSQL.
`BENCH_SECONDS` sets each wrk run's length (default 10).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from benchmarks import harness, stack, wrk
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))


def bare_aiohttp(workdir: Path) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        "benchmarks.baselines.bare_aiohttp", {"BARE_AIOHTTP_PORT": str(port)}, port, workdir / "bare.log"
    )


def _measure(url: str, token: str) -> wrk.WrkResult:
    wrk.warm_up(f"{url}/orders", token=token, body=stack.ORDER_JSON)
    return wrk.run(f"{url}/orders", seconds=SECONDS, token=token, body=stack.ORDER_JSON)


def row(label: str, result: wrk.WrkResult, baseline: wrk.WrkResult) -> str:
    ratio = result.requests_per_second / baseline.requests_per_second
    return (
        f"| {label} | {result.requests_per_second:.0f} | {ratio:.2f} | {result.p50_ms:.1f} ms "
        f"| {result.p99_ms:.1f} ms | {result.requests} | {result.errors} |"
    )


def main() -> None:
    wrk.require_wrk()
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        with harness.running(bare_aiohttp(workdir), memory, "bare aiohttp (baseline)") as bare:
            bare_result = _measure(bare.url, "-")
        api_only = stack.orders_service(
            workdir,
            databases.database_url("orders", orders_tortoise_config, workdir),
            stack.NO_GATEWAY,
            ORDERS_RELAY_ENABLED="false",
        )
        api_only.run("seed")
        with harness.running(api_only, memory, "orders service (relay off)"):
            stack.check_order_is_placed(api_only.url)
            alone = _measure(api_only.url, stack.ADMIN)
        with stack.orders_stack(databases, workdir, memory) as services:
            stack.check_order_is_placed(services.orders.url)
            ours = _measure(services.orders.url, stack.ADMIN)
    rows = [
        "| endpoint | requests/s | ratio to bare | p50 | p99 | requests | errors |",
        "|---|---|---|---|---|---|---|",
        row("bare aiohttp handler, no database (baseline)", bare_result, bare_result),
        row(f"our POST /orders ({database}), relay off: nothing delivered meanwhile", alone, bare_result),
        row(f"our POST /orders ({database}), relay on: gateway delivering meanwhile", ours, bare_result),
    ]
    harness.write_results(
        f"orders_write_{database}",
        f"POST /orders throughput ({database}, wrk -t{wrk.THREADS} -c{wrk.CONNECTIONS} -d{SECONDS}s)",
        [*rows, "", *memory.table()],
        [
            "Ours: auth, validation, user lookup, order + outbox row in one transaction. Relay on: the "
            "relay, the gateway and the sandbox run alongside on the same 2 cores, delivering every "
            "order's e-mail. Relay off: the same API process with nothing delivering (outbox rows wait).",
            "Baseline: a bare aiohttp handler in its own process that parses the same JSON and answers 201.",
            "Latencies are closed-loop at saturation (16 connections), so mostly queueing.",
            "Peak RSS: VmHWM of each process, read just before it was stopped.",
        ],
    )


if __name__ == "__main__":
    main()
