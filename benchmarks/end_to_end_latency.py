"""Time from `POST /orders` returning to the provider sandbox receiving the message.

For each relay setting, ORDERS orders are placed from 8 concurrent clients; each
order's latency is the sandbox's `received_at` minus the moment its 201 came
back (one machine, one clock). The baseline, measured in the same run, is the
gateway alone: `POST /notify` returning to the sandbox receiving.

Run: `make bench` (or `uv run python -m benchmarks.end_to_end_latency`).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "50"))  # requests per second, below saturation
LANES = 8
ADMIN = "bench-admin-token-0123456789abcdef"
CALLER = "bench-caller-token-0123456789abcdef"
SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1"
SHIPPING = {
    "recipient_name": "Ada",
    "address_lines": ["1 St"],
    "city": "London",
    "postcode": "N1",
    "country": "GB",
}
SEPARATE = "separate relay process"  # the API process does not relay; a second process does
RELAY_SETTINGS = [
    ("in the API process (default: poll 0.2 s, concurrency 8)", {}),
    ("in the API process, poll 1 s", {"ORDERS_RELAY_POLL_SECONDS": "1"}),
    ("in the API process, concurrency 1", {"ORDERS_RELAY_CONCURRENCY": "1"}),
    ("in a separate process, poll 0.2 s", {SEPARATE: "yes"}),
    ("in a separate process, poll 1 s", {SEPARATE: "yes", "ORDERS_RELAY_POLL_SECONDS": "1"}),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _lanes(count: int, send) -> dict[str, datetime]:
    """Send request n at start + n / RATE (open loop, LANES at most); map each key to when it returned."""
    returned: dict[str, datetime] = {}
    numbers = iter(range(count))
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def lane() -> None:
        for n in numbers:
            await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))
            key = await send(n)
            returned[key] = datetime.now(UTC)

    await asyncio.gather(*(lane() for _ in range(LANES)))
    return returned


async def _latencies(http, sandbox_url: str, returned: dict[str, datetime], key_of) -> list[float]:
    while True:
        async with http.get(f"{sandbox_url}/_sandbox/messages") as response:
            messages = (await response.json())["data"]
        if len(messages) >= len(returned):
            break
        await asyncio.sleep(0.2)
    return [
        (datetime.fromisoformat(m["received_at"]) - returned[key_of(m["message"])]).total_seconds() * 1000
        for m in messages
    ]


def _gateway(workdir: Path, database_url: str, sandbox_url: str, orders_port: int) -> ServiceProcess:
    return harness.gateway(
        workdir,
        database_url,
        sandbox_url,
        CALLER,
        GATEWAY_TOKEN="",
        GATEWAY_CALLERS=f"orders:{CALLER}",
        GATEWAY_SUPPRESSION_KEY="bench-suppression-key-0123456789",
        GATEWAY_WEBHOOK_SECRETS=f"orders:{SECRET}",
        GATEWAY_CALLBACK_ORIGINS=f"http://127.0.0.1:{orders_port}",
        PUSH_API_URL=sandbox_url + "/push",
    )


async def _run(http, databases, workdir: Path, label: str, overrides: dict[str, str] | None) -> str:
    with harness.running(harness.sandbox(workdir)) as sandbox:
        orders_port = free_port()
        gateway_db = harness.off_loop(databases.database_url, "gateway", gateway_tortoise_config, workdir)
        with harness.running(_gateway(workdir, gateway_db, sandbox.url, orders_port)) as gateway:
            if overrides is None:  # the baseline: the gateway alone
                recipient = {"id": "u_ada", "name": "Ada", "email": "ada@example.com"}

                async def send(n: int) -> str:
                    body = {"recipient": recipient, "message": f"direct {n}", "channel": "email"}
                    headers = {"Authorization": f"Bearer {CALLER}"}
                    async with http.post(f"{gateway.url}/notify", json=body, headers=headers) as response:
                        assert response.status == 202
                    return f"direct {n}"

                returned = await _lanes(ORDERS, send)
                latencies = await _latencies(http, sandbox.url, returned, lambda text: text)
            else:
                orders_db = harness.off_loop(
                    databases.database_url, "orders", orders_tortoise_config, workdir
                )
                env = {
                    "ORDERS_DATABASE_URL": orders_db,
                    "ORDERS_PORT": str(orders_port),
                    "ADMIN_TOKEN": ADMIN,
                    "ORDERS_RATE_LIMIT": "1000000/second",
                    "ORDERS_GATEWAY_URL": gateway.url,
                    "ORDERS_GATEWAY_TOKEN": CALLER,
                    "ORDERS_WEBHOOK_SECRET": SECRET,
                    "ORDERS_CALLBACK_URL": f"http://127.0.0.1:{orders_port}/webhooks/notifications",
                    "LOG_LEVEL": "WARNING",
                } | overrides
                separate = env.pop(SEPARATE, None) is not None
                api_env = env | ({"ORDERS_RELAY_ENABLED": "false"} if separate else {})
                orders = ServiceProcess("orders_service", api_env, orders_port, workdir / "orders.log")
                relay_port = free_port()
                relay = ServiceProcess(
                    "orders_service",
                    env | {"ORDERS_PORT": str(relay_port)},
                    relay_port,
                    workdir / "relay.log",
                )
                orders.run("seed")
                with harness.running(orders), harness.running(relay) if separate else nullcontext():

                    async def send(n: int) -> str:
                        body = {
                            "user_id": "u_grace",
                            "sequencing_type": "targeted-sequencing",
                            "shipping_info": SHIPPING,
                        }
                        headers = {"Authorization": f"Bearer {ADMIN}"}
                        async with http.post(f"{orders.url}/orders", json=body, headers=headers) as response:
                            assert response.status == 201
                            return (await response.json())["id"]

                    returned = await _lanes(ORDERS, send)
                    latencies = await _latencies(
                        http, sandbox.url, returned, lambda text: text.rsplit("Reference: ", 1)[1].rstrip(".")
                    )
    return (
        f"| {label} | {len(latencies)} | {statistics.median(latencies):.0f} ms "
        f"| {percentile(latencies, 0.99):.0f} ms | {max(latencies):.0f} ms |"
    )


async def main() -> None:
    rows = ["| path | messages | p50 | p99 | max |", "|---|---|---|---|---|"]
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            on_postgres = os.environ.get("BENCH_DATABASE") == "postgres"
            runs = [("baseline: POST /notify → provider", None)] + [
                (f"POST /orders → provider, relay {label}", overrides)
                for label, overrides in RELAY_SETTINGS
                if on_postgres or SEPARATE not in overrides  # SQLite: one process per service
            ]
            for index, (label, overrides) in enumerate(runs):
                workdir = Path(folder) / f"run{index}"
                workdir.mkdir()
                rows.append(await _run(http, databases, workdir, label, overrides))
    harness.write_results(
        f"end_to_end_latency_{os.environ.get('BENCH_DATABASE', 'sqlite')}",
        f"End-to-end notification latency ({ORDERS} per row at {RATE:g}/s, "
        f"{os.environ.get('BENCH_DATABASE', 'sqlite')})",
        rows,
        [
            "Latency: the sandbox's receive time minus the moment the 201/202 came back, same clock.",
            "The relay adds its hop (outbox write, wake-up, POST /notify) to the gateway's own path.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
