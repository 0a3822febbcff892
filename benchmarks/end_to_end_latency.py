"""Time from `POST /orders` returning to the provider sandbox receiving the message.

For each relay setting, ORDERS orders are placed at RATE per second (paced, at
most 8 in flight); each order's latency is the sandbox's `received_at` minus the
moment its 201 came back (one machine, one clock). The baseline, measured in the
same run, is the gateway alone: `POST /notify` returning to the sandbox receiving.
Each relay row is also given as a ratio of its p50 to the p50 of the relay in the
API process (woken directly by each order), the ceiling for a relay elsewhere.

Each row also says whether the path kept up: the rate at which messages reached
the sandbox over the rate at which the 201s came back. Below about 0.95 the
path fell behind the orders and its latencies are mostly a backlog, which grows
with the run's length and the machine's other load; the p50 ratio then
compares backlogs, not wake-ups.

Run: `make bench` (or `uv run python -m benchmarks.end_to_end_latency`).
`BENCH_ORDERS` and `BENCH_RATE` set the load; `BENCH_RELAYS` picks relay rows by
key (e.g. `api,own,own-poll-1s`; the ceiling, `api`, always runs).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

ORDERS = int(os.environ.get("BENCH_ORDERS", "1000"))
RATE = float(os.environ.get("BENCH_RATE", "100"))  # requests per second, below saturation
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
IN_PROCESS = "in the API process (default: poll 0.2 s, concurrency 8)"  # the ceiling of the others
OWN_PROCESS = "in its own process, poll 0.2 s"
OWN_PROCESS_SLOW_POLL = "in its own process, poll 1 s"
RELAY_SETTINGS = {  # key (for BENCH_RELAYS): label, overrides
    "api": (IN_PROCESS, {}),
    "api-poll-1s": ("in the API process, poll 1 s", {"ORDERS_RELAY_POLL_SECONDS": "1"}),
    "api-concurrency-1": ("in the API process, concurrency 1", {"ORDERS_RELAY_CONCURRENCY": "1"}),
    "own": (OWN_PROCESS, {SEPARATE: "yes"}),
    "own-poll-1s": (OWN_PROCESS_SLOW_POLL, {SEPARATE: "yes", "ORDERS_RELAY_POLL_SECONDS": "1"}),
}
KEPT_UP = 0.95  # sent ÷ ordered per second below this: the path fell behind, its latencies queue
CPU_OF = ("orders service", "gateway")  # whose CPU per message each row shows
TARGET = 2.0  # a relay in its own process: p50 at most twice the in-process relay's


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


@dataclass
class Measured:
    latencies: list[float]  # ms, one per message
    kept_up: float  # messages received per second ÷ 201s (202s) returned per second
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU per message, by service

    def per_message(self, cpu_seconds: dict[str, float]) -> Measured:
        self.cpu_ms = {name: seconds / len(self.latencies) * 1000 for name, seconds in cpu_seconds.items()}
        return self


def cpu_meter(services: dict[str, list[ServiceProcess]]) -> Callable[[], dict[str, float]]:
    """CPU seconds each service (all its processes) spends from now until the result is called."""

    def spent(group: list[ServiceProcess]) -> float:
        return sum(harness.cpu_seconds(service.process.pid) for service in group)

    start = {name: spent(group) for name, group in services.items()}
    return lambda: {name: spent(group) - start[name] for name, group in services.items()}


def _rate(moments: list[datetime]) -> float:
    span = (max(moments) - min(moments)).total_seconds()
    return (len(moments) - 1) / span if span > 0 else float("inf")


async def _measured(http, sandbox_url: str, returned: dict[str, datetime], key_of) -> Measured:
    while True:
        async with http.get(f"{sandbox_url}/_sandbox/messages") as response:
            messages = (await response.json())["data"]
        if len(messages) >= len(returned):
            break
        await asyncio.sleep(0.2)
    received = {key_of(m["message"]): datetime.fromisoformat(m["received_at"]) for m in messages}
    latencies = [(received[key] - returned[key]).total_seconds() * 1000 for key in received]
    return Measured(latencies, _rate(list(received.values())) / _rate(list(returned.values())))


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


async def _run(http, databases, workdir: Path, overrides: dict[str, str] | None) -> Measured:
    with harness.running(harness.sandbox(workdir), label="provider sandbox") as sandbox:
        orders_port = free_port()
        gateway_db = harness.off_loop(databases.database_url, "gateway", gateway_tortoise_config, workdir)
        gateway = _gateway(workdir, gateway_db, sandbox.url, orders_port)
        with harness.running(gateway, label="notification gateway"):
            if overrides is None:  # the baseline: the gateway alone
                recipient = {"id": "u_ada", "name": "Ada", "email": "ada@example.com"}

                async def send(n: int) -> str:
                    body = {"recipient": recipient, "message": f"direct {n}", "channel": "email"}
                    headers = {"Authorization": f"Bearer {CALLER}"}
                    async with http.post(f"{gateway.url}/notify", json=body, headers=headers) as response:
                        assert response.status == 202
                    return f"direct {n}"

                meter = cpu_meter({"gateway": [gateway]})
                returned = await _lanes(ORDERS, send)
                measured = await _measured(http, sandbox.url, returned, lambda text: text)
                measured.per_message(meter())
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
                api_label = "orders service, API only" if separate else "orders service, API and relay"
                with (
                    harness.running(orders, label=api_label),
                    harness.running(relay, label="orders service, relay only") if separate else nullcontext(),
                ):

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

                    meter = cpu_meter(
                        {"orders service": [orders, relay] if separate else [orders], "gateway": [gateway]}
                    )
                    returned = await _lanes(ORDERS, send)
                    measured = await _measured(
                        http, sandbox.url, returned, lambda text: text.rsplit("Reference: ", 1)[1].rstrip(".")
                    )
                    measured.per_message(meter())
    return measured


def _workdir(folder: str, name: str) -> Path:
    workdir = Path(folder) / name
    workdir.mkdir()
    return workdir


def _row(label: str, measured: Measured, ceiling_p50: float | None) -> str:
    latencies = measured.latencies
    p50 = statistics.median(latencies)
    ratio = f"{p50 / ceiling_p50:.2f}" if ceiling_p50 else "-"
    kept_up = f"{measured.kept_up:.2f}" + ("" if measured.kept_up >= KEPT_UP else " (fell behind)")
    cpu = " / ".join(f"{measured.cpu_ms[name]:.1f}" if name in measured.cpu_ms else "-" for name in CPU_OF)
    return (
        f"| {label} | {len(latencies)} | {p50:.1f} ms | {percentile(latencies, 0.99):.1f} ms "
        f"| {max(latencies):.0f} ms | {kept_up} | {ratio} | {cpu} |"
    )


def _selected(on_postgres: bool) -> list[tuple[str, dict[str, str]]]:
    """The relay rows to run: BENCH_RELAYS' keys (every row if unset), the ceiling always first;
    on SQLite (one process per service) none of its own process."""
    keys = [key.strip() for key in os.environ.get("BENCH_RELAYS", "").split(",") if key.strip()]
    unknown = set(keys) - set(RELAY_SETTINGS)
    if unknown:
        known = ", ".join(RELAY_SETTINGS)
        raise SystemExit(f"BENCH_RELAYS: unknown {', '.join(sorted(unknown))}; the keys are {known}")
    chosen = ["api", *[key for key in keys or RELAY_SETTINGS if key != "api"]]
    rows = [RELAY_SETTINGS[key] for key in chosen]
    return [(label, env) for label, env in rows if on_postgres or SEPARATE not in env]


async def main() -> None:
    rows = [
        "| path | messages | p50 | p99 | max | kept up (sent ÷ ordered per s) "
        f"| p50 ÷ relay in the API process | CPU ms per message: {' / '.join(CPU_OF)} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    settings = _selected(os.environ.get("BENCH_DATABASE") == "postgres")
    medians: dict[str, float] = {}
    kept_up: dict[str, float] = {}
    with harness.database_server() as databases, tempfile.TemporaryDirectory(prefix="bench-") as folder:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            measured = await _run(http, databases, _workdir(folder, "baseline"), None)
            rows.append(_row("baseline: POST /notify → provider", measured, None))
            for label, overrides in settings:
                measured = await _run(http, databases, _workdir(folder, f"run{len(medians)}"), overrides)
                medians[label] = statistics.median(measured.latencies)
                kept_up[label] = measured.kept_up
                rows.append(_row(f"POST /orders → provider, relay {label}", measured, medians[IN_PROCESS]))
    verdicts = []
    for label in (OWN_PROCESS, OWN_PROCESS_SLOW_POLL):
        if label not in medians:
            continue
        ratio = medians[label] / medians[IN_PROCESS]
        verdict = "met" if ratio <= TARGET else "missed"
        if min(kept_up[label], kept_up[IN_PROCESS]) < KEPT_UP:
            verdict += "; a row fell behind, so this compares backlogs"
        verdicts.append(
            f"Relay {label} ÷ in the API process, p50: **{ratio:.2f}** (target ≤ {TARGET:g}: {verdict})."
        )
    if verdicts:
        rows += ["", *verdicts]
    harness.write_results(
        f"end_to_end_latency_{os.environ.get('BENCH_DATABASE', 'sqlite')}",
        f"End-to-end notification latency ({ORDERS} per row at {RATE:g}/s, "
        f"{os.environ.get('BENCH_DATABASE', 'sqlite')})",
        rows,
        [
            "Latency: the sandbox's receive time minus the moment the 201/202 came back, same clock.",
            "The relay adds its hop (outbox write, wake-up, POST /notify) to the gateway's own path.",
            "In the API process the relay is woken by each order's request; in its own process (PostgreSQL",
            "only) by the NOTIFY the API process sends after each commit, heard on a connection of its own;",
            "the poll is the safety net in both.",
            "CPU per message: user + system time of each service's processes (a relay's own included) from",
            "the first request to the last message received, over the messages; PostgreSQL's is not in it.",
        ],
    )


if __name__ == "__main__":
    harness.run(main)
