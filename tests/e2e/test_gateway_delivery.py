"""The gateway delivers through real processes: provider faults, a killed gateway, two gateways at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

import pytest

from tests.e2e.conftest import CALLER, wait_until

pytestmark = pytest.mark.slow

ADA = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+447451277972"}


async def _notify(http, gateway, message: str, **extra) -> dict:
    body = {"recipient": ADA, "message": message} | extra
    async with http.post(f"{gateway.url}/notify", json=body, headers=CALLER) as response:
        assert response.status == 202, await response.text()
        return await response.json()


async def _notification(http, gateway, notification_id: str) -> dict:
    async with http.get(f"{gateway.url}/notifications/{notification_id}", headers=CALLER) as response:
        return await response.json()


async def _delivered(http, gateway, notification_id: str) -> dict:
    found: dict = {}

    async def check() -> bool:
        found.update(await _notification(http, gateway, notification_id))
        return found["status"] == "sent"  # no receipts here: the provider accepted it

    await wait_until(check, f"{notification_id} to be delivered")
    return found


async def test_three_503s_then_a_200_make_one_delivery(http, start_gateway, provider):
    gateway = start_gateway()
    await provider.faults("sms", queue=[{"status": 503}] * 3)

    accepted = await _notify(
        http, gateway, "Hi {user_name}", attributes={"kit_type": "whole-exome-sequencing"}
    )
    delivered = await _delivered(http, gateway, accepted["id"])

    assert [(a["outcome"], a["provider_status"]) for a in delivered["attempts"]] == [
        ("retryable", 503),
        ("retryable", 503),
        ("retryable", 503),
        ("sent", 200),
    ]
    [message] = await provider.messages("sms")
    assert message == message | {"recipient": "+447451277972", "message": "Hi Ada Lovelace"}
    assert [r["outcome"] for r in await provider.requests("sms")] == ["fault", "fault", "fault", "accepted"]


async def test_a_429_retry_after_is_honoured(http, start_gateway, provider):
    gateway = start_gateway()
    await provider.faults("email", queue=[{"status": 429, "retry_after": "2"}])

    accepted = await _notify(http, gateway, "Hello")
    delivered = await _delivered(http, gateway, accepted["id"])

    first, second = delivered["attempts"]
    assert (first["provider_status"], first["retry_after_seconds"]) == (429, 2.0)
    waited = datetime.fromisoformat(second["started_at"]) - datetime.fromisoformat(first["started_at"])
    assert waited.total_seconds() >= 2.0
    assert len(await provider.messages("email")) == 1


async def test_a_gateway_killed_mid_delivery_loses_nothing_after_restart(http, start_gateway, provider):
    await provider.faults("email", latency_ms=100)
    gateway = start_gateway(GATEWAY_DELIVERY_CONCURRENCY="8")
    accepted = []
    for batch in range(10):
        accepted += await asyncio.gather(
            *(_notify(http, gateway, f"message {batch * 20 + n}") for n in range(20))
        )
    gateway.kill()  # SIGKILL: no graceful shutdown, leases left behind
    delivered_before = len(await provider.messages("email"))

    restarted = start_gateway(GATEWAY_DELIVERY_CONCURRENCY="32")

    async def none_left() -> bool:
        async with http.get(
            f"{restarted.url}/notifications?status=queued&status=sending&limit=1", headers=CALLER
        ) as response:
            return (await response.json())["count"] == 0

    await wait_until(none_left, "every notification to be finished after the restart")
    counts = Counter(m["message"] for m in await provider.messages("email"))
    duplicates = sum(count - 1 for count in counts.values())
    assert set(counts) == {f"message {n}" for n in range(200)}  # lost = 0, unexpected = 0
    # At most what was in flight at the kill: 8 sends, and as many sent whose records waited for
    # their batch (the crash window the README's Reliability section gives: 2 x the concurrency).
    assert duplicates <= 2 * 8
    assert delivered_before < 200  # the kill really interrupted delivery
    statuses = {(await _notification(http, restarted, n["id"]))["status"] for n in accepted}
    assert statuses == {"sent"}


async def test_two_gateways_on_postgresql_deliver_a_thousand_once_each(
    http, start_gateway, provider, database_server
):
    if database_server.kind != "postgres":
        pytest.skip("several gateway processes share a queue on PostgreSQL only (SQLite: one process)")
    first = start_gateway(GATEWAY_DELIVERY_CONCURRENCY="16")
    second = start_gateway(GATEWAY_DELIVERY_CONCURRENCY="16")

    for batch in range(20):
        await asyncio.gather(
            *(_notify(http, (first, second)[n % 2], f"message {batch * 50 + n}") for n in range(50))
        )

    async def all_delivered() -> bool:
        return len(await provider.messages("email")) >= 1000

    await wait_until(all_delivered, "1,000 notifications at the provider", within=120)
    await asyncio.sleep(1)  # room for a duplicate to show up, if there were one
    counts = Counter(m["message"] for m in await provider.messages("email"))
    assert set(counts) == {f"message {n}" for n in range(1000)}
    assert max(counts.values()) == 1
    assert len(await provider.requests("email")) == 1000
