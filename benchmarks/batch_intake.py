"""Notifications accepted per second: `POST /notify/batch` against one `POST /notify` per notification.

One gateway process with its workers off, so only acceptance is measured (route,
cap, render, store, answer). Single: COUNT notifications from CLIENTS concurrent
clients, one request each. Batch: the same number in batches of 1,000 recipients,
CLIENTS // 4 batches in flight. Both in the same run, on the same database.

Run: `uv run python -m benchmarks.batch_intake` (`BENCH_DATABASE=postgres` for PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import aiohttp

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config

TOKEN = "bench-gateway-token-0123456789abcdef"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
COUNT = int(os.environ.get("BENCH_NOTIFICATIONS", "10000"))
CLIENTS = 8
BATCH = 1000
MESSAGE = "Hi {user_name}, our spring newsletter is out."


def _recipient(n: int) -> dict:
    return {"id": f"u_{n}", "name": f"Reader {n}", "email": f"reader{n}@example.com"}


async def _single(http: aiohttp.ClientSession, gateway_url: str) -> float:
    numbers = iter(range(COUNT))

    async def client() -> None:
        for n in numbers:
            body = {"recipient": _recipient(n), "message": MESSAGE, "priority": "bulk"}
            async with http.post(f"{gateway_url}/notify", json=body, headers=HEADERS) as response:
                assert response.status == 202, await response.text()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return COUNT / (time.perf_counter() - started)


async def _batched(http: aiohttp.ClientSession, gateway_url: str) -> float:
    firsts = iter(range(COUNT, 2 * COUNT, BATCH))

    async def client() -> None:
        for first in firsts:
            recipients = [_recipient(n) for n in range(first, min(first + BATCH, 2 * COUNT))]
            body = {"recipients": recipients, "message": MESSAGE, "priority": "bulk"}
            async with http.post(f"{gateway_url}/notify/batch", json=body, headers=HEADERS) as response:
                answer = await response.json()
                assert response.status == 202, answer
                assert answer["accepted"] == len(recipients), answer["data"][:3]

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(max(1, CLIENTS // 4))))
    return COUNT / (time.perf_counter() - started)


async def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            gateway_db = harness.off_loop(databases.database_url, "gateway", gateway_tortoise_config, workdir)
            gateway = harness.gateway(
                workdir, gateway_db, "http://127.0.0.1:9", TOKEN, GATEWAY_WORKERS_ENABLED="false"
            )
            with harness.running(gateway):
                single = await _single(http, gateway.url)
                batched = await _batched(http, gateway.url)
    harness.write_results(
        f"batch_intake_{database}",
        f"Notifications accepted per second, batch against single ({database})",
        [
            "| path | notifications | accepted per second |",
            "|---|---|---|",
            f"| `POST /notify`, one per request, {CLIENTS} clients | {COUNT:,} | {single:,.0f} |",
            f"| `POST /notify/batch`, {BATCH:,} per request, {max(1, CLIENTS // 4)} clients | {COUNT:,} | "
            f"{batched:,.0f} |",
            "",
            f"Batch / single: **{batched / single:.1f}x**.",
        ],
        [
            "One gateway process, workers off (acceptance only); the clients run on the same 2 cores.",
            "Each notification is routed, capped, rendered and stored as by POST /notify.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
