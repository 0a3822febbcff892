"""Lanes, scheduling and cancellation through real processes: a gateway, the sandbox, the database."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import CALLER, wait_until

# The provider took the message: `sent`, or `delivered` once its receipt came back.
HANDED_OVER = frozenset({"sent", "delivered"})

pytestmark = pytest.mark.slow

ADA = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com"}


async def _notify(http, gateway, message: str, **extra) -> dict:
    body = {"recipient": ADA, "message": message} | extra
    async with http.post(f"{gateway.url}/notify", json=body, headers=CALLER) as response:
        assert response.status == 202, await response.text()
        return await response.json()


async def _notification(http, gateway, notification_id: str) -> dict:
    async with http.get(f"{gateway.url}/notifications/{notification_id}", headers=CALLER) as response:
        return await response.json()


async def _any(http, gateway, *statuses: str) -> bool:
    query = "&".join(f"status={status}" for status in statuses)
    async with http.get(f"{gateway.url}/notifications?{query}&limit=1", headers=CALLER) as response:
        return (await response.json())["count"] > 0


async def test_a_scheduled_notification_survives_a_restart_and_goes_at_its_time(
    http, start_gateway, provider
):
    gateway = start_gateway()
    send_at = datetime.now(UTC) + timedelta(seconds=4)
    accepted = await _notify(http, gateway, "Your results are ready", send_at=send_at.isoformat())
    gateway.stop()
    assert await provider.messages("email") == []

    restarted = start_gateway()

    async def delivered() -> bool:
        return (await _notification(http, restarted, accepted["id"]))["status"] in HANDED_OVER

    await wait_until(delivered, "the scheduled notification to be delivered after the restart")
    [attempt] = (await _notification(http, restarted, accepted["id"]))["attempts"]
    assert datetime.fromisoformat(attempt["started_at"]) >= send_at
    assert [m["message"] for m in await provider.messages("email")] == ["Your results are ready"]


ROUNDS = 40


async def test_cancelling_against_a_delivering_gateway_is_cancelled_or_sent_never_both(
    http, start_gateway, provider
):
    """The gateway process claims and sends while this process cancels: real concurrency."""
    gateway = start_gateway(GATEWAY_POLL_SECONDS="0.01")

    async def notify_then_cancel(n: int) -> tuple[str, int]:
        accepted = await _notify(http, gateway, f"race {n}")
        async with http.post(
            f"{gateway.url}/notifications/{accepted['id']}/cancel", headers=CALLER
        ) as answer:
            return accepted["id"], answer.status

    results = await asyncio.gather(*(notify_then_cancel(n) for n in range(ROUNDS)))

    async def settled() -> bool:
        return not await _any(http, gateway, "queued", "sending")

    await wait_until(settled, "every notification to be delivered or cancelled")
    await asyncio.sleep(0.5)  # room for a send after a cancellation to show up, if there were one
    sent = Counter(m["message"] for m in await provider.messages("email"))
    for n, (notification_id, cancel_status) in enumerate(results):
        status = (await _notification(http, gateway, notification_id))["status"]
        if cancel_status == 200:
            assert (status, sent[f"race {n}"]) == ("cancelled", 0)
        else:
            assert (cancel_status, status in HANDED_OVER, sent[f"race {n}"]) == (409, True, 1)


async def test_a_bulk_backlog_does_not_hold_up_transactional_sends(http, start_gateway, provider):
    await provider.faults("email", latency_ms=200)
    gateway = start_gateway(GATEWAY_DELIVERY_CONCURRENCY="8", GATEWAY_BULK_SHARE="0.25")
    recipients = [
        {"id": f"u_{n}", "name": f"Reader {n}", "email": f"reader{n}@example.com"} for n in range(300)
    ]
    async with http.post(
        f"{gateway.url}/notify/batch",
        json={"message": "Our newsletter", "recipients": recipients, "priority": "bulk"},
        headers=CALLER,
    ) as response:
        assert response.status == 202, await response.text()

    urgent = [await _notify(http, gateway, f"password reset {n}") for n in range(6)]

    async def urgent_delivered() -> bool:
        statuses = [(await _notification(http, gateway, n["id"]))["status"] for n in urgent]
        return all(status in HANDED_OVER for status in statuses) and len(statuses) == len(urgent)

    await wait_until(urgent_delivered, "the transactional notifications to be delivered")
    # Two bulk slots of 200 ms each could not have cleared 300 bulk notifications meanwhile.
    assert await _any(http, gateway, "queued", "sending")
