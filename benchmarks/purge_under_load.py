"""Purging 1,000,000 old notifications on PostgreSQL while deliveries run.

One gateway process delivers notifications sent at a steady rate (open loop)
to the provider sandbox. In the same run, two phases:
- without the purge: deliveries alone, the baseline;
- during the purge: `notification-gateway purge` (batches of
  GATEWAY_PURGE_BATCH_SIZE, each its own transaction) deletes 1,000,000
  delivered notifications finished 40 days ago and their 1,000,000 attempts,
  while the same deliveries go on.
Each delivery's latency is the sandbox's `received_at` minus the moment its
`POST /notify` returned 202 (one machine, one clock). The tables' sizes are
read before the purge, after it, after `VACUUM` and after `VACUUM FULL`.

Run: `BENCH_DATABASE=postgres uv run python -m benchmarks.purge_under_load` (PostgreSQL only;
`BENCH_OLD_ROWS`, `BENCH_RATE` and `BENCH_BASELINE_SECONDS` change its size).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg

from benchmarks import harness
from benchmarks.end_to_end_latency import percentile
from notification_gateway.db import gateway_tortoise_config

TOKEN = "bench-gateway-token-0123456789abcdef"
OLD_ROWS = int(os.environ.get("BENCH_OLD_ROWS", "1000000"))
RATE = float(os.environ.get("BENCH_RATE", "50"))  # notifications per second, well below saturation
BASELINE_SECONDS = float(os.environ.get("BENCH_BASELINE_SECONDS", "30"))
PROVIDER_LATENCY_MS = 20
BATCH_SIZE = 1000
TABLES = ("notifications", "delivery_attempts")

SEED = """
INSERT INTO notifications (id, caller, recipient_id, recipient, message, attributes, channel,
    fallback_channels, status, attempt_count, attempts_on_channel, next_attempt_at, created_at,
    updated_at, finished_at)
SELECT 'ntf_old_' || lpad(g::text, 9, '0'), 'default', 'u_' || g,
    '{"name": "Old Recipient", "contacts": {"email": "old@example.com"}}',
    'Hi Old Recipient, your order has been successfully placed. Reference: ord_' || g || '.',
    '{}', 'email', '[]', 'delivered', 1, 1, now() - interval '40 days', now() - interval '40 days',
    now() - interval '40 days', now() - interval '40 days'
FROM generate_series(1, $1) AS g;
"""
SEED_ATTEMPTS = """
INSERT INTO delivery_attempts (notification_id, number, channel, outcome, provider_status, started_at,
    duration_ms)
SELECT id, 1, 'email', 'delivered', 200, finished_at, 12.5 FROM notifications WHERE id LIKE 'ntf_old_%';
"""


async def _sizes(url: str) -> dict[str, int]:
    connection = await asyncpg.connect(url)
    try:
        return {t: await connection.fetchval("SELECT pg_total_relation_size($1)", t) for t in TABLES}
    finally:
        await connection.close()


async def _execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url, command_timeout=3600)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


async def _seed(url: str) -> None:
    connection = await asyncpg.connect(url, command_timeout=3600)
    try:
        await connection.execute(SEED, OLD_ROWS)
        await connection.execute(SEED_ATTEMPTS)
        await connection.execute("VACUUM ANALYZE notifications")
        await connection.execute("VACUUM ANALYZE delivery_attempts")
    finally:
        await connection.close()


class Deliveries:
    """Sends notifications at RATE per second, open loop; keeps when each 202 came back."""

    def __init__(self, http: aiohttp.ClientSession, gateway_url: str) -> None:
        self.http = http
        self.url = f"{gateway_url}/notify"
        self.returned: dict[str, datetime] = {}
        self.notify_seconds: dict[str, float] = {}

    async def _one(self, message: str) -> None:
        body = {
            "recipient": {"id": "u_ada", "name": "Ada", "email": "ada@example.com"},
            "message": message,
            "channel": "email",
        }
        started = time.perf_counter()
        async with self.http.post(
            self.url, json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            assert response.status == 202, await response.text()
        self.notify_seconds[message] = time.perf_counter() - started
        self.returned[message] = datetime.now(UTC)

    async def run(self, phase: str, until) -> list[str]:
        """Send until `until()` is true; returns the messages of this phase."""
        sent: list[str] = []
        tasks = []
        start = time.perf_counter()
        while not until():
            message = f"{phase} {len(sent)}"
            sent.append(message)
            tasks.append(asyncio.create_task(self._one(message)))
            await asyncio.sleep(max(0.0, start + len(sent) / RATE - time.perf_counter()))
        await asyncio.gather(*tasks)
        return sent


async def _received(http: aiohttp.ClientSession, sandbox_url: str, wanted: int) -> dict[str, datetime]:
    deadline = time.monotonic() + 300
    while True:
        async with http.get(f"{sandbox_url}/_sandbox/messages", params={"channel": "email"}) as response:
            messages = (await response.json())["data"]
        if len(messages) >= wanted or time.monotonic() > deadline:
            return {m["message"]: datetime.fromisoformat(m["received_at"]) for m in messages}
        await asyncio.sleep(0.5)


def _row(label: str, sent: list[str], deliveries: Deliveries, received: dict[str, datetime]) -> str:
    latencies = [(received[m] - deliveries.returned[m]).total_seconds() * 1000 for m in sent if m in received]
    notify_ms = [deliveries.notify_seconds[m] * 1000 for m in sent]
    return (
        f"| {label} | {len(sent)} | {len(latencies)} | {percentile(latencies, 0.5):.0f} ms "
        f"| {percentile(latencies, 0.99):.0f} ms | {percentile(notify_ms, 0.99):.0f} ms |"
    )


def _mib(size: int) -> str:
    return f"{size / 1024 / 1024:,.0f} MiB"


async def main() -> None:
    if os.environ.get("BENCH_DATABASE") != "postgres":
        print("purge_under_load measures PostgreSQL only; set BENCH_DATABASE=postgres", file=sys.stderr)
        return
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        workdir = Path(folder)
        url = harness.off_loop(databases.database_url, "gateway_purge", gateway_tortoise_config, workdir)
        seeding = time.perf_counter()
        await _seed(url)
        print(f"seeded {OLD_ROWS} notifications and attempts in {time.perf_counter() - seeding:.0f} s")
        sizes = {"before the purge": await _sizes(url)}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            with harness.running(harness.sandbox(workdir)) as sandbox:
                async with http.put(
                    f"{sandbox.url}/_sandbox/faults/email", json={"latency_ms": PROVIDER_LATENCY_MS}
                ) as response:
                    assert response.status == 200
                gateway = harness.gateway(
                    workdir,
                    url,
                    sandbox.url,
                    TOKEN,
                    GATEWAY_PURGE_ENABLED="false",
                    GATEWAY_POLL_SECONDS="0.5",
                )
                with harness.running(gateway):
                    deliveries = Deliveries(http, gateway.url)
                    ends = time.monotonic() + BASELINE_SECONDS
                    baseline = await deliveries.run("baseline", lambda: time.monotonic() > ends)
                    purge = await asyncio.create_subprocess_exec(
                        sys.executable,
                        "-m",
                        "notification_gateway",
                        "purge",
                        env=gateway._environment() | {"GATEWAY_PURGE_BATCH_SIZE": str(BATCH_SIZE)},
                        stdout=asyncio.subprocess.PIPE,
                        stderr=asyncio.subprocess.DEVNULL,
                    )
                    purge_started = time.perf_counter()
                    during = await deliveries.run("during", lambda: purge.returncode is not None)
                    purge_seconds = time.perf_counter() - purge_started
                    purged = (await purge.stdout.read()).decode().strip()
                    received = await _received(http, sandbox.url, len(baseline) + len(during))
        sizes["after the purge"] = await _sizes(url)
        await _execute(url, "VACUUM notifications", "VACUUM delivery_attempts")
        sizes["after VACUUM"] = await _sizes(url)
        await _execute(url, "VACUUM FULL notifications", "VACUUM FULL delivery_attempts")
        sizes["after VACUUM FULL"] = await _sizes(url)
    rows = [
        "| phase (same run) | sent | delivered | notify → provider p50 | notify → provider p99 "
        "| POST /notify p99 |",
        "|---|---|---|---|---|---|",
        _row("without the purge (baseline)", baseline, deliveries, received),
        _row(f"during the purge ({purge_seconds:.0f} s)", during, deliveries, received),
        "",
        "| tables with indexes | " + " | ".join(TABLES) + " |",
        "|---|" + "---|" * len(TABLES),
        *(f"| {when} | " + " | ".join(_mib(s[t]) for t in TABLES) + " |" for when, s in sizes.items()),
    ]
    harness.write_results(
        "purge_under_load_postgres",
        f"Purging {OLD_ROWS:,} old notifications while deliveries run (PostgreSQL)",
        rows,
        [
            f"Deliveries: {RATE:g} notifications/s to one gateway process, provider latency "
            f"{PROVIDER_LATENCY_MS} ms. Purge: `notification-gateway purge`, batches of {BATCH_SIZE}, "
            f"{purge_seconds:.0f} s; it reported {purged}.",
            "Plain VACUUM makes the space reusable by new rows without giving it back to the system; "
            "VACUUM FULL rewrites the table (and locks it), so it is for a maintenance window.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
