"""SIGKILL the gateway at random moments while 1,000 notifications flow through it to the provider.

The README's promise: a process that dies mid-delivery loses nothing (its
leases run out and the restarted process delivers), and the only duplicates
are messages the provider accepted just before the process died. So, at the
provider: lost = 0, unexpected = 0, and duplicates at most the notifications in
flight at the kills (claimed and unrecorded, so still leased to the dead
process): at most the sends under way plus the sends over whose records were
waiting for their batch, each at most the concurrency, so 2 x concurrency x
kills. The kill moments come from a seeded random.Random, so a run can be repeated.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import pytest

from tests.e2e.conftest import wait_until
from tests.faults.conftest import (
    CALLER,
    duplicates_in,
    nothing_pending,
    notify,
    report,
)

pytestmark = pytest.mark.slow

SEED = 20261126
NOTIFICATIONS = 1000
KILLS = 4
CONCURRENCY = 16
BASE_LATENCY_MS = 20  # plus 0-30 ms per request, from the seeded generator: 20-50 ms in flight


async def test_sigkilled_gateway_loses_nothing_and_duplicates_only_what_was_in_flight(http, system, provider):
    rng = random.Random(SEED)
    gateway = system.gateway
    for channel in ("email", "sms"):
        jitter = [{"latency_ms": rng.randint(0, 30)} for _ in range(NOTIFICATIONS)]
        await provider.faults(channel, latency_ms=BASE_LATENCY_MS, queue=jitter)

    # Accept all 1,000 first (API only), so that every kill below interrupts delivery, never acceptance.
    gateway.env |= {
        "GATEWAY_WORKERS_ENABLED": "false",
        "GATEWAY_DELIVERY_CONCURRENCY": str(CONCURRENCY),
        "GATEWAY_LEASE_SECONDS": "2",  # a dead process's work is taken up again 2 s after the kill
    }
    await system.start(gateway)
    sent = [f"crash test message {n}" for n in range(NOTIFICATIONS)]
    kits = ("whole-exome-sequencing", "targeted-sequencing")  # SMS and e-mail, alternately
    accepting = asyncio.Semaphore(50)

    async def accept(n: int) -> dict:
        async with accepting:
            return await notify(http, gateway, sent[n], attributes={"kit_type": kits[n % 2]})

    await asyncio.gather(*(accept(n) for n in range(NOTIFICATIONS)))
    await asyncio.to_thread(gateway.stop)
    gateway.env["GATEWAY_WORKERS_ENABLED"] = "true"
    await system.start(gateway)

    thresholds = sorted(rng.sample(range(100, 900), KILLS))
    delivered_at_kill, in_flight_at_kill = [], []
    for threshold in thresholds:
        await wait_until(
            lambda threshold=threshold: _at_least(provider, threshold),
            f"{threshold} messages at the provider",
        )
        await asyncio.sleep(rng.uniform(0, 0.05))  # somewhere inside a send, not right after one
        pid = await system.kill(gateway)
        delivered_at_kill.append(await provider.message_count())
        # In flight: claimed by the dead process and not recorded, so still leased to it.
        in_flight_at_kill.append(await system.gateway_db.leased_by("notifications", pid))
        await system.start(gateway)

    await wait_until(lambda: nothing_pending(http, gateway, CALLER), "every notification to finish", 120)
    counts = Counter(message["message"] for message in await provider.all_messages())
    lost = len(set(sent) - set(counts))
    unexpected = len(set(counts) - set(sent))
    duplicates = duplicates_in(counts)
    retried = await system.gateway_db.value(
        "SELECT count(*) AS n FROM delivery_attempts WHERE outcome <> 'sent'"
    )
    report(
        "gateway_crashes",
        system.database_kind,
        {
            "seed": SEED,
            "notifications": NOTIFICATIONS,
            "concurrency": CONCURRENCY,
            "kills": KILLS,
            "kill_thresholds": thresholds,
            "delivered_at_each_kill": delivered_at_kill,
            "in_flight_at_each_kill": in_flight_at_kill,
            "in_flight_total": sum(in_flight_at_kill),
            "duplicates": duplicates,
            "failed_attempts_retried": retried,
            "lost": lost,
            "unexpected": unexpected,
            "provider_requests": len(await provider.all_requests()),
        },
    )

    assert (lost, unexpected) == (0, 0)
    assert all(count < NOTIFICATIONS for count in delivered_at_kill)  # every kill interrupted the flow
    assert sum(in_flight_at_kill) > 0  # ...with sends in flight
    assert sum(in_flight_at_kill) <= 2 * CONCURRENCY * KILLS  # sending, or sent and waiting for a record
    # Each duplicate is a send the provider took but the gateway never recorded: one in flight at a
    # kill, or (should a loaded machine stall a send past its timeout) one retried after a timeout.
    assert duplicates <= sum(in_flight_at_kill) + retried
    assert (
        await system.gateway_db.value("SELECT count(*) AS n FROM notifications WHERE status <> 'sent'") == 0
    )


async def _at_least(provider, count: int) -> bool:
    return await provider.message_count() >= count
