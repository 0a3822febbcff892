"""Transactional latency with a bulk backlog: does a newsletter hold up a password reset?

One gateway process (default concurrency 32, `GATEWAY_BULK_SHARE` 0.25) in front
of the provider sandbox answering every send after PROVIDER_MS (50 and 200). Transactional
notifications (by SMS) are posted at RATE per second from an open loop; each
one's latency is the sandbox's `received_at` minus the moment its 202 came back
(one machine, one clock). Two conditions: an empty queue, and BULK bulk
notifications (by e-mail, posted beforehand through `POST /notify/batch`) still
queued and being delivered meanwhile. The target is a p99 with the backlog at
most twice the p99 without.

Measured fairly on a noisy machine: each phase runs on a fresh gateway, sandbox
and database, after WARMUP transactional notifications that are not counted (a
new process's first requests are slow), and the phases run in the order empty,
loaded, loaded, empty, so load from elsewhere that rises or falls during the run
weighs on both conditions alike. The ratio pools each condition's samples.

Run: `uv run python -m benchmarks.priority_lanes` (`BENCH_DATABASE=postgres` for PostgreSQL;
`BENCH_POOL=40` gives the gateway a pool of 40 PostgreSQL connections). On stderr, each loaded
phase names its gateway's process id when its backlog is in place, for a profiler to attach.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from benchmarks import harness
from benchmarks.end_to_end_latency import percentile
from notification_gateway.db import gateway_tortoise_config

TOKEN = "bench-gateway-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
BULK = int(os.environ.get("BENCH_BULK", "20000"))
TRANSACTIONAL = int(os.environ.get("BENCH_TRANSACTIONAL", "300"))
RATE = float(os.environ.get("BENCH_RATE", "20"))  # transactional notifications per second
PROVIDER_MS = tuple(int(ms) for ms in os.environ.get("BENCH_PROVIDER_MS", "50,200").split(","))
BATCH = 1000
WARMUP = int(os.environ.get("BENCH_WARMUP", "20"))  # transactional notifications sent, not counted
PHASES = ("empty", "loaded", "loaded", "empty")  # ABBA: drift in outside load weighs on both alike
# PostgreSQL connections in the gateway's pool (tortoise's `maxsize` URL parameter; 5 when unset).
POOL = os.environ.get("BENCH_POOL")


async def _bulk_backlog(http: aiohttp.ClientSession, gateway_url: str) -> None:
    for first in range(0, BULK, BATCH):
        recipients = [
            {"id": f"u_{n}", "name": f"Reader {n}", "email": f"reader{n}@example.com"}
            for n in range(first, min(first + BATCH, BULK))
        ]
        body = {"message": "Our newsletter", "recipients": recipients, "priority": "bulk", "channel": "email"}
        async with http.post(f"{gateway_url}/notify/batch", json=body, headers=HEADERS) as response:
            answer = await response.json()
            assert response.status == 202, answer
            assert answer["refused"] == 0, answer["data"][:3]


async def _transactional(
    http: aiohttp.ClientSession, gateway_url: str, tag: str, count: int = TRANSACTIONAL
) -> dict[str, datetime]:
    """Post `count` notifications at RATE (open loop); map each message to when its 202 came back."""
    returned: dict[str, datetime] = {}
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def one(n: int) -> None:
        await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))
        message = f"{tag} reset code {n}"
        body = {
            "recipient": {"id": f"u_t{n}", "name": "Ada", "phone_number": "+447451277972"},
            "message": message,
            "channel": "sms",
        }
        async with http.post(f"{gateway_url}/notify", json=body, headers=HEADERS) as response:
            assert response.status == 202, await response.text()
        returned[message] = datetime.now(UTC)

    await asyncio.gather(*(one(n) for n in range(count)))
    return returned


async def _latencies(
    http: aiohttp.ClientSession, sandbox_url: str, returned: dict[str, datetime]
) -> list[float]:
    for _ in range(1200):
        async with http.get(f"{sandbox_url}/_sandbox/messages", params={"channel": "sms"}) as response:
            received = {m["message"]: m["received_at"] for m in (await response.json())["data"]}
        if all(message in received for message in returned):
            break
        await asyncio.sleep(0.25)
    else:
        raise TimeoutError("transactional notifications never all reached the sandbox")
    return [
        (datetime.fromisoformat(received[message]) - at).total_seconds() * 1000
        for message, at in returned.items()
    ]


async def _queued_bulk(http: aiohttp.ClientSession, sandbox_url: str) -> int:
    async with http.get(f"{sandbox_url}/_sandbox/messages", params={"channel": "email"}) as response:
        return BULK - (await response.json())["count"]


def _row(label: str, latencies: list[float]) -> str:
    return (
        f"| {label} | {len(latencies)} | {statistics.median(latencies):.0f} ms "
        f"| {percentile(latencies, 0.99):.0f} ms | {max(latencies):.0f} ms |"
    )


async def _phase(
    http: aiohttp.ClientSession, databases, workdir: Path, provider_ms: int, loaded: bool
) -> tuple[list[float], str]:
    """One fresh gateway, sandbox and database: warm up, queue the backlog if `loaded`, then measure."""
    with harness.running(harness.sandbox(workdir)) as sandbox:
        for channel in ("email", "sms"):
            url = f"{sandbox.url}/_sandbox/faults/{channel}"
            async with http.put(url, json={"latency_ms": provider_ms}) as response:
                assert response.status == 200
        gateway_db = harness.off_loop(databases.database_url, "gateway", gateway_tortoise_config, workdir)
        if POOL and gateway_db.startswith("postgres"):
            gateway_db += f"?maxsize={POOL}"
        with harness.running(harness.gateway(workdir, gateway_db, sandbox.url, TOKEN)) as gateway:
            await _latencies(http, sandbox.url, await _transactional(http, gateway.url, "warm-up", WARMUP))
            if not loaded:
                return await _latencies(http, sandbox.url, await _transactional(http, gateway.url, "t")), ""
            await _bulk_backlog(http, gateway.url)
            before = await _queued_bulk(http, sandbox.url)
            print(f"loaded phase starts (gateway pid {gateway.process.pid})", file=sys.stderr, flush=True)
            latencies = await _latencies(http, sandbox.url, await _transactional(http, gateway.url, "t"))
            after = await _queued_bulk(http, sandbox.url)
    return latencies, f"{before:,} left at the start, {after:,} at the end"


async def _run(http: aiohttp.ClientSession, databases, workdir: Path, provider_ms: int) -> list[str]:
    """The phases in ABBA order, each on its own processes; rows per phase, pooled, and the ratio."""
    samples: dict[str, list[float]] = {"empty": [], "loaded": []}
    rows = []
    for number, phase in enumerate(PHASES, start=1):
        phase_dir = workdir / f"phase-{number}"
        phase_dir.mkdir()
        latencies, backlog = await _phase(http, databases, phase_dir, provider_ms, phase == "loaded")
        samples[phase] += latencies
        label = f"{BULK:,} bulk queued ({backlog})" if backlog else "empty queue"
        rows.append(_row(f"{provider_ms} ms | {number}. {label}", latencies))
    ratio = percentile(samples["loaded"], 0.99) / percentile(samples["empty"], 0.99)
    return [
        *rows,
        _row(f"{provider_ms} ms | empty queue, both phases", samples["empty"]),
        _row(f"{provider_ms} ms | bulk backlog, both phases", samples["loaded"]),
        f"| {provider_ms} ms | **p99 behind the backlog / p99 without** | | | **{ratio:.2f}x** | |",
    ]


async def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    rows = [
        "| provider answers after | queue | transactional sent | p50 | p99 | max |",
        "|---|---|---|---|---|---|",
    ]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            for provider_ms in PROVIDER_MS:
                workdir = Path(folder) / f"provider-{provider_ms}"
                workdir.mkdir()
                rows += await _run(http, databases, workdir, provider_ms)
    pool = f", pool of {POOL} connections" if POOL and database == "postgres" else ""
    harness.write_results(
        f"priority_lanes_{database}{'_pool' + POOL if pool else ''}",
        f"Transactional latency behind a bulk backlog ({database}{pool})",
        rows,
        [
            "Target: p99 behind the backlog at most 2x the p99 with an empty queue, in the same run.",
            f"One gateway (concurrency 32, bulk share 0.25, so 8 bulk sends at most); {TRANSACTIONAL} "
            f"transactional SMS at {RATE:g}/s in each phase, after {WARMUP} not counted; bulk e-mail via "
            "POST /notify/batch beforehand.",
            "Phases in the order empty, loaded, loaded, empty, each on a fresh gateway, sandbox and "
            "database; the ratio pools each condition's two phases.",
            "Latency: the sandbox's receive time minus the moment the 202 came back, same clock.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
