"""Transactional latency with a bulk backlog: does a newsletter hold up a password reset?

One gateway process (default concurrency 32, `GATEWAY_BULK_SHARE` 0.25) in front
of the provider sandbox answering every send after PROVIDER_MS (50 and 200). Transactional
notifications (by SMS) are posted at RATE per second from an open loop; each
one's latency is the sandbox's `received_at` minus the moment its 202 came back
(one machine, one clock). Measured twice in the same run: with an empty queue,
then with BULK bulk notifications (by e-mail, posted beforehand through
`POST /notify/batch`) still queued and being delivered meanwhile. The target is
a p99 with the backlog at most twice the p99 without.

Run: `uv run python -m benchmarks.priority_lanes` (`BENCH_DATABASE=postgres` for PostgreSQL;
`BENCH_POOL=40` gives the gateway a pool of 40 PostgreSQL connections instead of tortoise's 5).
"""

from __future__ import annotations

import asyncio
import os
import statistics
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


async def _transactional(http: aiohttp.ClientSession, gateway_url: str, tag: str) -> dict[str, datetime]:
    """Post TRANSACTIONAL notifications at RATE (open loop); map each message to when its 202 came back."""
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

    await asyncio.gather(*(one(n) for n in range(TRANSACTIONAL)))
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


async def _run(http: aiohttp.ClientSession, databases, workdir: Path, provider_ms: int) -> list[str]:
    """One gateway and sandbox: transactional latency with an empty queue, then behind the backlog."""
    with harness.running(harness.sandbox(workdir)) as sandbox:
        for channel in ("email", "sms"):
            url = f"{sandbox.url}/_sandbox/faults/{channel}"
            async with http.put(url, json={"latency_ms": provider_ms}) as response:
                assert response.status == 200
        gateway_db = harness.off_loop(databases.database_url, "gateway", gateway_tortoise_config, workdir)
        if POOL and gateway_db.startswith("postgres"):
            gateway_db += f"?maxsize={POOL}"
        with harness.running(harness.gateway(workdir, gateway_db, sandbox.url, TOKEN)) as gateway:
            empty = await _latencies(http, sandbox.url, await _transactional(http, gateway.url, "empty"))
            await _bulk_backlog(http, gateway.url)
            before = await _queued_bulk(http, sandbox.url)
            loaded = await _latencies(http, sandbox.url, await _transactional(http, gateway.url, "loaded"))
            after = await _queued_bulk(http, sandbox.url)
    ratio = percentile(loaded, 0.99) / percentile(empty, 0.99)
    return [
        _row(f"{provider_ms} ms | empty queue", empty),
        _row(
            f"{provider_ms} ms | {BULK:,} bulk queued ({before:,} left at the start, {after:,} at the end)",
            loaded,
        ),
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
            f"transactional SMS at {RATE:g}/s in each phase; bulk e-mail via POST /notify/batch beforehand.",
            "Latency: the sandbox's receive time minus the moment the 202 came back, same clock.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
