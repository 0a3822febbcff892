"""The orders service as it runs for real: relay on, a real gateway behind it, the sandbox behind that.

`POST /orders` benchmarks use it so that the outbox rows they write are really
relayed, the gateway really delivers and calls back, and all of that competes
for the same cores as the requests being measured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from benchmarks import harness
from notification_gateway.db import gateway_tortoise_config
from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

ADMIN = "bench-admin-token-0123456789abcdef"
SUPPORT = "bench-support-token-0123456789abcdef"
CALLER = "bench-caller-token-0123456789abcdef"
SECRET = "whsec_YmVuY2gtd2ViaG9vay1zZWNyZXQtMDEyMzQ1"
SHIPPING = {
    "recipient_name": "Grace Hopper",
    "address_lines": ["1 Navy Yard"],
    "city": "Arlington",
    "postcode": "22202",
    "country": "US",
}
# A seeded user with e-mail only and a kit the rules send by e-mail: one outbox row, one e-mail.
ORDER = {"user_id": "u_grace", "sequencing_type": "targeted-sequencing", "shipping_info": SHIPPING}
ORDER_JSON = json.dumps(ORDER)
NO_GATEWAY = "http://127.0.0.1:9"  # for API-only processes: nothing they serve calls the gateway


def orders_service(
    workdir: Path, database_url: str, gateway_url: str, port: int | None = None, **overrides: str
) -> ServiceProcess:
    """Production settings with benchmark tokens; no rate limit worth the name, warnings only."""
    port = port or free_port()
    env = {
        "ORDERS_DATABASE_URL": database_url,
        "ORDERS_PORT": str(port),
        "ADMIN_TOKEN": ADMIN,
        "SUPPORT_TOKEN": SUPPORT,
        "ORDERS_RATE_LIMIT": "1000000/second",
        "ORDERS_GATEWAY_URL": gateway_url,
        "ORDERS_GATEWAY_TOKEN": CALLER,
        "ORDERS_WEBHOOK_SECRET": SECRET,
        "ORDERS_CALLBACK_URL": f"http://127.0.0.1:{port}/webhooks/notifications",
        "LOG_LEVEL": "WARNING",
    } | overrides
    return ServiceProcess("orders_service", env, port, workdir / f"orders-{port}.log")


@dataclass(frozen=True)
class Stack:
    sandbox: ServiceProcess
    gateway: ServiceProcess
    orders: ServiceProcess


@contextmanager
def orders_stack(databases, workdir: Path, memory: harness.PeakMemory) -> Iterator[Stack]:
    """Sandbox, gateway and a seeded orders service with its relay on; all stopped on the way out."""
    orders_port = free_port()
    gateway_db = databases.database_url("gateway", gateway_tortoise_config, workdir)
    orders_db = databases.database_url("orders", orders_tortoise_config, workdir)
    with harness.running(harness.sandbox(workdir), memory, "provider sandbox") as sandbox:
        gateway = harness.gateway(
            workdir,
            gateway_db,
            sandbox.url,
            CALLER,
            GATEWAY_TOKEN="",
            GATEWAY_CALLERS=f"orders:{CALLER}",
            GATEWAY_SUPPRESSION_KEY="bench-suppression-key-0123456789",
            GATEWAY_WEBHOOK_SECRETS=f"orders:{SECRET}",
            GATEWAY_CALLBACK_ORIGINS=f"http://127.0.0.1:{orders_port}",
            GATEWAY_RECIPIENT_LIMITS="",  # every order goes to one address; no per-recipient cap
        )
        with harness.running(gateway, memory, "notification gateway"):
            orders = orders_service(workdir, orders_db, gateway.url, orders_port)
            orders.run("seed")
            with harness.running(orders, memory, "orders service (relay on)"):
                yield Stack(sandbox, gateway, orders)


def check_order_is_placed(url: str) -> None:
    """One order by hand first: a wrong token or body would otherwise be benchmarked as fast 4xx."""
    response = requests.post(f"{url}/orders", data=ORDER_JSON, headers=auth(ADMIN, json=True), timeout=30)
    if response.status_code != 201:
        raise RuntimeError(f"POST {url}/orders answered {response.status_code}: {response.text[:500]}")


def auth(token: str, *, json: bool = False) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    return headers | ({"Content-Type": "application/json"} if json else {})


def sandbox_messages(sandbox_url: str) -> int:
    response = requests.get(f"{sandbox_url}/_sandbox/messages", timeout=30)
    response.raise_for_status()
    return response.json()["count"]


def clear_sandbox(sandbox_url: str) -> None:
    requests.delete(f"{sandbox_url}/_sandbox/messages", timeout=30).raise_for_status()


def set_provider_latency(sandbox_url: str, latency_ms: int) -> None:
    for channel in ("email", "sms"):
        response = requests.put(
            f"{sandbox_url}/_sandbox/faults/{channel}", json={"latency_ms": latency_ms}, timeout=30
        )
        response.raise_for_status()


def wait_until_quiet(sandbox_url: str) -> int:
    """Wait until no message arrived for a second: requests still queued when wrk stopped are done."""
    previous = -1
    for _ in range(600):
        if (received := sandbox_messages(sandbox_url)) == previous:
            return received
        previous = received
        time.sleep(1)
    raise TimeoutError(f"the sandbox was still receiving messages after 10 minutes ({previous})")


def wait_for_messages(sandbox_url: str, count: int, *, within_seconds: float = 300) -> int:
    """Wait until the sandbox has `count` messages, so a backlog cannot load the next measurement."""
    deadline = time.monotonic() + within_seconds
    while (received := sandbox_messages(sandbox_url)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the sandbox received {received} of {count} messages")
        time.sleep(0.5)
    return received
