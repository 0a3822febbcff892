"""Provider receipts applied per second by one gateway process, beside `POST /notify` in the same run.

1. `POST /notify`: N notifications accepted (API only, no deliveries), requests/s.
2. Each is marked sent by SQL, with an attempt carrying a provider reference, as if the
   provider had accepted it; then N signed `delivered` receipts are posted to
   `POST /receipts/sms`, one per request, then again N in requests of 100: receipts
   applied/s and the answer times of the single-receipt requests.
Every receipt is checked applied (each notification `delivered`) before a figure is kept.

Run: `BENCH_DATABASE=postgres uv run python -m benchmarks.receipts_throughput` (`make bench` runs it).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.http_channel import sign_webhook

TOKEN = "bench-gateway-token-0123456789abcdef"
SECRET = "bench-sms-receipt-secret"
CONCURRENCY = 32
BATCH = 100
COUNT = int(os.environ.get("BENCH_RECEIPTS", "5000"))
RECIPIENT = {"id": "u_ada", "name": "Ada Lovelace", "phone_number": "+447451277972"}


async def _sql(database_url: str, statement: str) -> list[dict]:
    if database_url.startswith("sqlite://"):

        def run() -> list[dict]:
            connection = sqlite3.connect(database_url.removeprefix("sqlite://"), timeout=30)
            connection.row_factory = sqlite3.Row
            try:
                with connection:
                    return [dict(row) for row in connection.execute(statement).fetchall()]
            finally:
                connection.close()

        return await asyncio.to_thread(run)
    connection = await asyncpg.connect(database_url)
    try:
        return [dict(row) for row in await connection.fetch(statement)]
    finally:
        await connection.close()


async def _in_lanes(jobs, lanes: int) -> list[float]:
    """Run the coroutines `lanes` at a time; each one's seconds."""
    pending = iter(jobs)
    seconds: list[float] = []

    async def lane() -> None:
        for job in pending:
            started = time.perf_counter()
            await job
            seconds.append(time.perf_counter() - started)

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return seconds


async def _notify(http: aiohttp.ClientSession, url: str, n: int) -> None:
    body = {"recipient": RECIPIENT, "message": f"receipts bench {n}", "channel": "sms"}
    async with http.post(f"{url}/notify", json=body, headers={"Authorization": f"Bearer {TOKEN}"}) as answer:
        assert answer.status == 202, await answer.text()


async def _receipts(http: aiohttp.ClientSession, url: str, references: list[str]) -> None:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    events = [
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "receipt",
            "channel": "sms",
            "message_id": reference,
            "status": "delivered",
            "reason": "ok",
            "occurred_at": at,
        }
        for reference in references
    ]
    body = json.dumps(events).encode()
    async with http.post(f"{url}/receipts/sms", data=body, headers=sign_webhook(SECRET, body)) as answer:
        assert answer.status == 200, await answer.text()
        assert (await answer.json())["applied"] == len(references)


async def _mark_sent(database_url: str) -> list[str]:
    await _sql(
        database_url,
        "INSERT INTO delivery_attempts (notification_id, number, channel, outcome, provider_reference,"
        " started_at, duration_ms) SELECT id, 1, channel, 'sent', 'ref-' || id, CURRENT_TIMESTAMP, 1.0"
        " FROM notifications WHERE status = 'queued'",
    )
    rows = await _sql(
        database_url, "UPDATE notifications SET status = 'sent' WHERE status = 'queued' RETURNING id"
    )
    return [f"ref-{row['id']}" for row in rows]


def _times(seconds: list[float]) -> str:
    """`p50 | p99` in milliseconds, for a table row."""
    return f"{_percentile(seconds, 0.5):.1f} | {_percentile(seconds, 0.99):.1f}"


def _percentile(seconds: list[float], share: float) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


async def main() -> None:
    database = os.environ.get("BENCH_DATABASE", "sqlite")
    memory = harness.PeakMemory()
    rows = ["| phase | items | requests | per second | p50 ms | p99 ms |", "|---|---|---|---|---|---|"]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        database_url = harness.off_loop(
            databases.database_url, "gateway_receipts", gateway_tortoise_config, workdir
        )
        gateway = harness.gateway(
            workdir,
            database_url,
            "http://127.0.0.1:9",
            TOKEN,
            GATEWAY_WORKERS_ENABLED="false",
            SMS_RECEIPT_SECRET=SECRET,
        )
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            with harness.running(gateway, memory, "gateway"):
                started = time.perf_counter()
                seconds = await _in_lanes((_notify(http, gateway.url, n) for n in range(COUNT)), CONCURRENCY)
                rate = COUNT / (time.perf_counter() - started)
                rows.append(
                    f"| POST /notify | {COUNT} | {COUNT} | {rate:.0f} req/s "
                    f"| {_percentile(seconds, 0.5):.1f} | {_percentile(seconds, 0.99):.1f} |"
                )
                references = await _mark_sent(database_url)
                half = len(references) // 2
                single, batched = references[:half], references[half:]
                started = time.perf_counter()
                seconds = await _in_lanes((_receipts(http, gateway.url, [r]) for r in single), CONCURRENCY)
                rate = len(single) / (time.perf_counter() - started)
                rows.append(
                    f"| POST /receipts/sms, 1 receipt per request | {len(single)} | {len(single)} "
                    f"| {rate:.0f} receipts/s | {_times(seconds)} |"
                )
                chunks = [batched[i : i + BATCH] for i in range(0, len(batched), BATCH)]
                started = time.perf_counter()
                seconds = await _in_lanes(
                    (_receipts(http, gateway.url, chunk) for chunk in chunks), CONCURRENCY
                )
                rate = len(batched) / (time.perf_counter() - started)
                rows.append(
                    f"| POST /receipts/sms, {BATCH} receipts per request | {len(batched)} | {len(chunks)} "
                    f"| {rate:.0f} receipts/s | {_times(seconds)} |"
                )
                delivered = await _sql(
                    database_url, "SELECT count(*) AS n FROM notifications WHERE status = 'delivered'"
                )
                assert delivered[0]["n"] == COUNT, f"only {delivered[0]['n']} of {COUNT} receipts applied"
    harness.write_results(
        f"receipts_throughput_{database}",
        f"Receipts applied per second beside POST /notify "
        f"(one gateway process, {CONCURRENCY} clients, {database})",
        [*rows, "", *memory.table()],
        [
            "Each receipt is verified (HMAC-SHA256), deduplicated, matched to its send, and moves its "
            "notification to delivered with an event, in its own transaction; all were checked applied.",
            "Answer times are per request, measured by the client.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
