"""SIGKILL the orders service while its relay is handing notifications to the gateway.

The relay sends each outbox row with the row's id as the `Idempotency-Key`, so
a row whose 202 never reached the dead process is sent again after its lease
runs out and the gateway replays its first answer. Every order's notification
arrives at the provider once: none lost, none twice.

A proxy between the relay and the gateway holds every answer back a little
(the gateway has committed, the relay does not know yet), which is the window
a crash must not turn into a second notification.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from tests.e2e.conftest import wait_until
from tests.faults.conftest import (
    ADMIN,
    GatedProxy,
    duplicates_in,
    nothing_pending,
    order_reference,
    place_order,
    report,
)
from tests.faults.conftest import ORDERS_CALLER_TOKEN as CALLER_TOKEN

pytestmark = pytest.mark.slow

SEED = 1126
ORDERS = 240
KILLS = 2
RELAY_CONCURRENCY = 8
ANSWER_DELAY_SECONDS = 0.1
KITS = ("whole-exome-sequencing", "targeted-sequencing")  # SMS and e-mail, alternately


async def test_a_sigkilled_relay_resends_with_the_same_key_and_nothing_arrives_twice(http, system, provider):
    rng = random.Random(SEED)
    proxy = GatedProxy(system.gateway.url, delay_seconds=ANSWER_DELAY_SECONDS)
    await proxy.start()
    system.orders.env |= {
        "ORDERS_GATEWAY_URL": proxy.url,
        "ORDERS_RELAY_LEASE_SECONDS": "1",
        "ORDERS_RELAY_CONCURRENCY": str(RELAY_CONCURRENCY),
        "ORDERS_GATEWAY_TIMEOUT_SECONDS": "20",  # the relay's first sends wait at the closed gate
    }
    try:
        await system.start(system.gateway)
        await system.start(system.orders)
        placing = asyncio.Semaphore(20)

        async def place(n: int) -> dict:
            async with placing:
                return await place_order(http, system.orders, sequencing_type=KITS[n % 2])

        orders = await asyncio.gather(*(place(n) for n in range(ORDERS)))
        order_ids = {order["id"] for order in orders}
        proxy.opened.set()  # the relay starts handing rows to the gateway now

        thresholds = sorted(rng.sample(range(30, ORDERS - 60), KILLS))
        in_flight, answered_unknown, leased = [], [], []
        for threshold in thresholds:
            await wait_until(
                lambda threshold=threshold: _forwarded(proxy, threshold), f"{threshold} rows relayed"
            )
            await asyncio.sleep(rng.uniform(0, ANSWER_DELAY_SECONDS))
            in_flight.append(proxy.in_flight)
            answered_unknown.append(proxy.answered_not_returned)
            pid = await system.kill(system.orders)
            leased.append(await system.orders_db.leased_by("outbox_messages", pid))
            await system.start(system.orders)

        await wait_until(lambda: _all_sent(system), "every outbox row to be handed to the gateway", 120)
        caller = {"Authorization": f"Bearer {CALLER_TOKEN}"}
        await wait_until(lambda: nothing_pending(http, system.gateway, caller), "every notification sent")
        await wait_until(
            lambda: _all_delivered(http, system), "every order to show its notification delivered"
        )
    finally:
        await proxy.stop()

    references = Counter(order_reference(message) for message in await provider.all_messages())
    gateway_notifications = await system.gateway_db.value("SELECT count(*) AS n FROM notifications")
    report(
        "orders_crashes",
        system.database_kind,
        {
            "seed": SEED,
            "orders": ORDERS,
            "relay_concurrency": RELAY_CONCURRENCY,
            "kills": KILLS,
            "kill_thresholds": thresholds,
            "relay_sends_in_flight_at_each_kill": in_flight,
            "accepted_but_unanswered_at_each_kill": answered_unknown,
            "outbox_rows_leased_by_the_dead_process": leased,
            "replayed_by_the_gateway": proxy.replayed,
            "gateway_answers": dict(proxy.statuses),
            "gateway_notifications": gateway_notifications,
            "duplicates": duplicates_in(references),
            "lost": len(order_ids - set(references)),
            "unexpected": len(set(references) - order_ids),
        },
    )

    assert set(references) == order_ids  # none lost, nothing unexpected
    assert max(references.values()) == 1  # none twice
    assert gateway_notifications == ORDERS  # a resend made no second notification either
    assert sum(answered_unknown) > 0  # the kills did hit accepted-but-unanswered sends...
    assert proxy.replayed >= sum(answered_unknown)  # ...and each was resent and replayed


async def _forwarded(proxy: GatedProxy, count: int) -> bool:
    return proxy.forwarded >= count


async def _all_sent(system) -> bool:
    return (
        await system.orders_db.value("SELECT count(*) AS n FROM outbox_messages WHERE status <> 'sent'") == 0
    )


async def _all_delivered(http, system) -> bool:
    async with http.get(f"{system.orders.url}/users/u_ada", headers=ADMIN) as response:
        orders = (await response.json())["orders"]
    return len(orders) == ORDERS and {order["notification"]["status"] for order in orders} == {"sent"}
