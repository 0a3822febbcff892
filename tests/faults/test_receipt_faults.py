"""Receipts under stress, against real processes: a provider faster than our commit, a flood of
receipts, and a gateway killed while confirmation timers are pending.

Figures (answer times) are reported in tests/faults/results/, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest

from notification_gateway.db import gateway_tortoise_config
from notification_gateway.http_channel import sign_webhook
from tests.e2e.conftest import RECEIPT_SECRETS, wait_until
from tests.faults.conftest import CALLER, DirectDatabase, gateway_environment, notify, report
from tests.processes import ServiceProcess

pytestmark = pytest.mark.slow

BURST = 10_000
BATCH = 1_000  # the most one POST /notify/batch takes
BURST_CONCURRENCY = 32
CONFIRMATIONS = 100
PENDING_TIMERS = "SELECT count(*) AS n FROM confirmation_timers WHERE status <> 'done'"
ROUTING = """
fallback = ["email"]
[[rules]]
name = "e-mail, confirmed, else SMS"
channel = "email"
fallback = ["sms"]
confirm_within = "8s"
"""


@pytest.fixture
def receipts_gateway(database_server, tmp_path, sandbox, receipts_port):
    """A gateway where the sandbox sends its receipts, with a short confirm_within; (process, database)."""
    database_url = database_server.database_url("gateway", gateway_tortoise_config, tmp_path)
    routing = tmp_path / "routing.toml"
    routing.write_text(ROUTING)
    environment = gateway_environment(database_url, sandbox.url, receipts_port) | {
        "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
        "GATEWAY_ROUTING_FILE": str(routing),
        "GATEWAY_LEASE_SECONDS": "3",
        **{name: secret for name, secret in RECEIPT_SECRETS.items() if not name.startswith("PUSH")},
    }
    service = ServiceProcess("notification_gateway", environment, receipts_port, tmp_path / "gateway.log")
    yield service, DirectDatabase(database_url)
    service.stop()


async def _statuses(database: DirectDatabase) -> Counter:
    rows = await database.fetch("SELECT status, channel FROM notifications")
    return Counter((row["status"], row["channel"]) for row in rows)


async def test_receipts_faster_than_the_send_is_recorded_are_all_applied(http, receipts_gateway, sandbox):
    gateway, database = receipts_gateway
    await asyncio.to_thread(gateway.start)
    async with http.put(f"{sandbox.url}/_sandbox/receipts/settings", json={"delay_ms": 0}) as response:
        assert response.status == 200
    count = 200
    recipient = {"id": "u_ada", "name": "Ada", "phone_number": "+447451277972"}

    for n in range(count):
        await notify(http, gateway, f"race {n}", recipient=recipient, channel="sms")

    async def all_delivered() -> bool:
        return (await _statuses(database))[("delivered", "sms")] == count

    await wait_until(all_delivered, f"{count} notifications delivered", within=120)
    early = await database.value(
        "SELECT count(*) AS n FROM provider_receipts r JOIN delivery_attempts a"
        " ON a.provider_reference = r.provider_reference AND a.channel = r.channel"
        " WHERE r.received_at < (SELECT min(e.occurred_at) FROM notification_events e"
        " WHERE e.notification_id = a.notification_id AND e.status = 'sent')"
    )
    report(
        "receipts_before_send",
        database.kind,
        {"notifications": count, "receipts_before_the_send": early},
    )


async def test_a_burst_of_ten_thousand_receipts_is_all_applied(http, receipts_gateway):
    gateway, database = receipts_gateway
    gateway.env["GATEWAY_WORKERS_ENABLED"] = "false"
    await asyncio.to_thread(gateway.start)
    # The messages the receipts are for, accepted a batch of a thousand at a time.
    for first in range(0, BURST, BATCH):
        recipients = [
            {"id": f"u_{n}", "name": "Ada", "phone_number": "+447451277972"}
            for n in range(first, first + BATCH)
        ]
        body = {"message": "burst", "channel": "sms", "recipients": recipients}
        async with http.post(f"{gateway.url}/notify/batch", json=body, headers=CALLER) as response:
            assert response.status == 202, await response.text()
            assert (await response.json())["accepted"] == BATCH
    # As if every message had been sent: each has an attempt carrying the provider's reference.
    await database.execute(
        "INSERT INTO delivery_attempts (notification_id, number, channel, outcome, provider_reference,"
        " started_at, duration_ms) SELECT id, 1, channel, 'sent', 'ref-' || id, CURRENT_TIMESTAMP, 1.0"
        " FROM notifications"
    )
    await database.execute("UPDATE notifications SET status = 'sent'")
    references = [row["r"] for row in await database.fetch("SELECT 'ref-' || id AS r FROM notifications")]
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    answer_seconds: list[float] = []
    statuses: Counter = Counter()
    sending = asyncio.Semaphore(BURST_CONCURRENCY)

    async def post(reference: str) -> None:
        event = {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "receipt",
            "channel": "sms",
            "message_id": reference,
            "status": "delivered",
            "reason": "ok",
            "occurred_at": at,
        }
        body = json.dumps([event]).encode()
        async with sending:
            started = time.perf_counter()
            async with http.post(
                f"{gateway.url}/receipts/sms",
                data=body,
                headers=sign_webhook(RECEIPT_SECRETS["SMS_RECEIPT_SECRET"], body),
            ) as response:
                await response.read()
                answer_seconds.append(time.perf_counter() - started)
                statuses[response.status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(post(reference) for reference in references))
    elapsed = time.perf_counter() - started

    answer_seconds.sort()
    delivered = (await _statuses(database))[("delivered", "sms")]
    report(
        "receipt_burst",
        database.kind,
        {
            "receipts": BURST,
            "concurrency": BURST_CONCURRENCY,
            "answers": dict(statuses),
            "applied": delivered,
            "receipts_per_second": round(BURST / elapsed),
            "p50_ms": round(answer_seconds[len(answer_seconds) // 2] * 1000, 1),
            "p99_ms": round(answer_seconds[int(len(answer_seconds) * 0.99)] * 1000, 1),
            "max_ms": round(answer_seconds[-1] * 1000, 1),
        },
    )
    assert statuses == Counter({200: BURST})
    assert delivered == BURST


async def test_a_gateway_killed_with_confirmations_pending_loses_and_doubles_none(
    http, receipts_gateway, provider
):
    gateway, database = receipts_gateway
    await asyncio.to_thread(gateway.start)
    # +noreceipt: the e-mail provider never confirms, so every notification must fall back to SMS.
    recipient = {
        "id": "u_kat",
        "name": "Kat",
        "email": "kat+noreceipt@example.com",
        "phone_number": "+447451271234",
    }
    texts = [f"confirm {n}" for n in range(CONFIRMATIONS)]
    for text in texts:
        await notify(http, gateway, text, recipient=recipient)

    async def all_sent_by_email() -> bool:
        return (await _statuses(database))[("sent", "email")] == CONFIRMATIONS

    await wait_until(all_sent_by_email, "every e-mail sent")
    pending_at_kill = await database.value(
        "SELECT count(*) AS n FROM confirmation_timers WHERE status <> 'done'"
    )
    await asyncio.to_thread(gateway.kill)
    await asyncio.to_thread(gateway.start)

    async def all_delivered_by_sms() -> bool:
        return (await _statuses(database))[("delivered", "sms")] == CONFIRMATIONS

    await wait_until(
        all_delivered_by_sms, "every notification delivered by SMS after the restart", within=120
    )
    emails = Counter(m["message"] for m in await provider.messages("email"))
    texts_by_sms = Counter(m["message"] for m in await provider.messages("sms"))
    hops = await database.fetch(
        "SELECT notification_id, count(*) AS n FROM notification_events WHERE status = 'queued'"
        " AND channel = 'sms' GROUP BY notification_id"
    )
    report(
        "confirmations_across_a_kill",
        database.kind,
        {
            "notifications": CONFIRMATIONS,
            "pending_at_kill": pending_at_kill,
            "emails": sum(emails.values()),
            "sms": sum(texts_by_sms.values()),
        },
    )

    assert pending_at_kill == CONFIRMATIONS
    assert emails == Counter(texts)
    assert texts_by_sms == Counter(texts)  # each fell back once: nothing lost, nothing doubled
    assert sorted(row["n"] for row in hops) == [1] * CONFIRMATIONS
    assert await database.value(PENDING_TIMERS) == 0
