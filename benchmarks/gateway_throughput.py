"""Notifications delivered per second by one gateway process, against the provider sandbox.

For each provider latency, two numbers from the same run:
- baseline: a plain aiohttp client posting straight to the sandbox with the same
  concurrency as the gateway (what the provider allows from this machine);
- gateway: notifications queued beforehand, then one gateway process delivering
  them; the rate is taken between the first and last message the sandbox received.
With latency L and concurrency C the ceiling is C / L: what the in-flight limit allows.

The summary keeps the figures the gateway is held to, each against its ceiling from the same run:
delivered / direct client at 0 ms; 2 processes / 1 process at 50 ms (PostgreSQL); delivered /
(C / L) at 50 and 200 ms. `BENCH_ROUNDS` repeats the whole run (default 2: a shared machine is
noisy) and every round is reported.

Run: `make bench` (or `uv run python -m benchmarks.gateway_throughput`).
`BENCH_DATABASE=postgres` runs the gateway on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import aiohttp

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config

TOKEN = "bench-gateway-token-0123456789abcdef"
CONCURRENCY = 32
LATENCIES_MS = tuple(int(ms) for ms in os.environ.get("BENCH_LATENCIES_MS", "0,50,200").split(","))
COUNT = int(os.environ.get("BENCH_NOTIFICATIONS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))


async def _direct_rate(http: aiohttp.ClientSession, sandbox_url: str, count: int, concurrency: int) -> float:
    """Messages/s a bare client gets from the sandbox with `concurrency` requests in flight."""
    queue = iter(range(count))
    headers = {"Authorization": "Bearer dev-email-token"}

    async def lane() -> None:
        for n in queue:
            body = {"recipient": "ada@example.com", "message": f"direct {n}"}
            async with http.post(sandbox_url + harness.EMAIL_PATH, json=body, headers=headers) as response:
                assert response.status == 200

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def queue_emails(http: aiohttp.ClientSession, gateway_url: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    recipient = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com"}
    queue = iter(range(count))

    async def lane() -> None:
        for n in queue:
            body = {"recipient": recipient, "message": f"gateway {n}", "channel": "email"}
            async with http.post(f"{gateway_url}/notify", json=body, headers=headers) as response:
                assert response.status == 202, await response.text()

    await asyncio.gather(*(lane() for _ in range(16)))


async def delivered_emails(http: aiohttp.ClientSession, sandbox_url: str) -> list[dict]:
    async with http.get(f"{sandbox_url}/_sandbox/messages", params={"channel": "email"}) as response:
        return (await response.json())["data"]


async def _gateway_rate(
    http, workdir: Path, database_url: str, sandbox_url: str, count: int, processes: int, memory
) -> float:
    api_only = harness.gateway(workdir, database_url, sandbox_url, TOKEN, GATEWAY_WORKERS_ENABLED="false")
    with harness.running(api_only):
        await queue_emails(http, api_only.url, count)
    workers = [
        harness.gateway(
            workdir, database_url, sandbox_url, TOKEN, GATEWAY_DELIVERY_CONCURRENCY=str(CONCURRENCY)
        )
        for _ in range(processes)
    ]
    with ExitStack() as stack:
        for number, worker in enumerate(workers, 1):
            stack.enter_context(harness.running(worker, memory, f"gateway {number} of {processes}"))
        deadline = time.monotonic() + 600
        while len(messages := await delivered_emails(http, sandbox_url)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(messages)} of {count} delivered")
            await asyncio.sleep(0.2)
    times = sorted(datetime.fromisoformat(m["received_at"]) for m in messages)
    return (count - 1) / max((times[-1] - times[0]).total_seconds(), 1e-3)


async def _round(http, databases, workdir: Path, process_counts, memory, number: int) -> dict:
    """One pass over every process count and latency: {(processes, latency): (delivered/s, direct/s)}."""
    measured = {}
    for processes in process_counts:
        for latency in LATENCIES_MS:
            count = COUNT if latency < 200 else COUNT // 2
            with harness.running(harness.sandbox(workdir), memory, "sandbox") as sandbox:
                async with http.put(
                    f"{sandbox.url}/_sandbox/faults/email", json={"latency_ms": latency}
                ) as response:
                    assert response.status == 200
                direct = await _direct_rate(http, sandbox.url, count, CONCURRENCY * processes)
                async with http.delete(f"{sandbox.url}/_sandbox/messages"):
                    pass
                database_url = harness.off_loop(
                    databases.database_url,
                    f"gateway_{number}_{processes}_{latency}",
                    gateway_tortoise_config,
                    workdir,
                )
                delivered = await _gateway_rate(
                    http, workdir, database_url, sandbox.url, count, processes, memory
                )
            measured[processes, latency] = (count, delivered, direct)
    return measured


def _rows(number: int, measured: dict) -> list[str]:
    rows = []
    for (processes, latency), (count, delivered, direct) in measured.items():
        ceiling = processes * CONCURRENCY / (latency / 1000) if latency else None
        rows.append(
            f"| {number} | {processes} | {latency} ms | {count} | {delivered:.0f} | {direct:.0f} "
            f"| {delivered / direct:.2f} | {f'{ceiling:.0f}/s' if ceiling else 'n/a'} "
            f"| {f'{delivered / ceiling:.2f}' if ceiling else 'n/a'} "
            f"| {f'{direct / ceiling:.2f}' if ceiling else 'n/a'} |"
        )
    return rows


def _summary(number: int, measured: dict) -> list[str]:
    """The figures the gateway is held to, as ratios to their ceilings from the same round."""
    rows = []
    if (1, 0) in measured:
        _count, delivered, direct = measured[1, 0]
        rows.append(
            f"| {number} | delivered / direct client, 0 ms, 1 process | {delivered / direct:.2f} | 0.5 |"
        )
    if (1, 50) in measured and (2, 50) in measured:
        ratio = measured[2, 50][1] / measured[1, 50][1]
        rows.append(f"| {number} | 2 processes / 1 process, 50 ms | {ratio:.2f} | 1.7 |")
    for latency in (50, 200):
        if (1, latency) in measured:
            _count, delivered, direct = measured[1, latency]
            ceiling = CONCURRENCY / (latency / 1000)
            rows.append(
                f"| {number} | delivered / (C / L), {latency} ms, 1 process | {delivered / ceiling:.2f} "
                f"| 0.9 (direct client: {direct / ceiling:.2f}) |"
            )
    return rows


async def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    # Several gateway processes share one queue on PostgreSQL only; SQLite has one delivering process.
    process_counts = (1, 2) if database == "postgres" else (1,)
    memory = harness.PeakMemory()
    rows = [
        "| round | gateway processes | provider latency | notifications | delivered/s "
        "| direct client/s (baseline) | delivered / baseline | ceiling (processes x C / L) "
        "| delivered / ceiling | direct client / ceiling |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = ["| round | figure | ratio | target |", "|---|---|---|---|"]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            for number in range(1, ROUNDS + 1):
                measured = await _round(http, databases, workdir, process_counts, memory, number)
                rows += _rows(number, measured)
                summary += _summary(number, measured)
    harness.write_results(
        f"gateway_throughput_{database}",
        f"Gateway delivery throughput (concurrency C = {CONCURRENCY} per process, {database})",
        [*summary, "", *rows, "", *memory.table()],
        [
            "Baseline: a bare aiohttp client posting to the same sandbox with the same total concurrency.",
            "Ceiling C / L: what the in-flight limit allows at provider latency L; the direct client's own",
            "ratio to it shows how far this machine's scheduling keeps anything from it.",
            "Delivered/s is taken between the first and the last message the sandbox received.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
