"""Notifications delivered per second by one gateway process, against the provider sandbox.

For each provider latency, two numbers from the same run:
- baseline: a plain aiohttp client posting straight to the sandbox with the same
  concurrency as the gateway (what the provider allows from this machine);
- gateway: notifications queued beforehand, then one gateway process delivering
  them; the rate is taken between the first and last message the sandbox received.
With latency L and concurrency C the ceiling is C / L.

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


async def _queue(http: aiohttp.ClientSession, gateway_url: str, count: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    recipient = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com"}
    queue = iter(range(count))

    async def lane() -> None:
        for n in queue:
            body = {"recipient": recipient, "message": f"gateway {n}", "channel": "email"}
            async with http.post(f"{gateway_url}/notify", json=body, headers=headers) as response:
                assert response.status == 202, await response.text()

    await asyncio.gather(*(lane() for _ in range(16)))


async def _messages(http: aiohttp.ClientSession, sandbox_url: str) -> list[dict]:
    async with http.get(f"{sandbox_url}/_sandbox/messages", params={"channel": "email"}) as response:
        return (await response.json())["data"]


async def _gateway_rate(
    http, workdir: Path, database_url: str, sandbox_url: str, count: int, processes: int, memory
) -> float:
    api_only = harness.gateway(workdir, database_url, sandbox_url, TOKEN, GATEWAY_WORKERS_ENABLED="false")
    with harness.running(api_only):
        await _queue(http, api_only.url, count)
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
        while len(messages := await _messages(http, sandbox_url)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {len(messages)} of {count} delivered")
            await asyncio.sleep(0.2)
    times = sorted(datetime.fromisoformat(m["received_at"]) for m in messages)
    return (count - 1) / max((times[-1] - times[0]).total_seconds(), 1e-3)


async def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    # Several gateway processes share one queue on PostgreSQL only; SQLite has one delivering process.
    process_counts = (1, 2) if database == "postgres" else (1,)
    memory = harness.PeakMemory()
    rows = [
        "| gateway processes | provider latency | notifications | delivered/s | direct client/s (baseline) "
        "| delivered / baseline | ceiling (processes x C / L) | delivered / ceiling |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
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
                            f"gateway_{processes}_{latency}",
                            gateway_tortoise_config,
                            workdir,
                        )
                        delivered = await _gateway_rate(
                            http, workdir, database_url, sandbox.url, count, processes, memory
                        )
                    ceiling = processes * CONCURRENCY / (latency / 1000) if latency else None
                    rows.append(
                        f"| {processes} | {latency} ms | {count} | {delivered:.0f} | {direct:.0f} "
                        f"| {delivered / direct:.2f} | {f'{ceiling:.0f}/s' if ceiling else 'n/a'} "
                        f"| {f'{delivered / ceiling:.2f}' if ceiling else 'n/a'} |"
                    )
    harness.write_results(
        f"gateway_throughput_{database}",
        f"Gateway delivery throughput (concurrency C = {CONCURRENCY} per process, {database})",
        [*rows, "", *memory.table()],
        [
            "Baseline: a bare aiohttp client posting to the same sandbox with the same total concurrency.",
            "Delivered/s is taken between the first and the last message the sandbox received.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
