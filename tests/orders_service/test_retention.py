"""Retention in the orders service: an injected clock, the real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from apikit.leases import acquire
from apikit.purge import PurgeMetrics
from orders_service.app import create_app
from orders_service.lifecycle import OutboxStatus
from orders_service.models import DNAKitOrder, IdempotencyRecord, Lease, OutboxMessage, WebhookReceipt
from orders_service.retention import orders_purger
from tests.orders_service.conftest import place


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def history(client, ada):
    """Two orders placed with keys, one outbox row sent, one pending, one failed; two receipts."""
    for key in ("key-1", "key-2", "key-3"):
        await place(client, headers={"Idempotency-Key": key})
    rows = await OutboxMessage.all().order_by("id")
    now = datetime.now(UTC)
    await OutboxMessage.filter(id=rows[0].id).update(status=OutboxStatus.SENT, sent_at=now)
    await OutboxMessage.filter(id=rows[1].id).update(status=OutboxStatus.FAILED)
    await WebhookReceipt.create(id="msg_1")
    await WebhookReceipt.create(id="msg_2")


def _purger(settings, clock, **update):
    registry = CollectorRegistry()
    purger = orders_purger(
        settings.model_copy(update={"purge_batch_size": 1, **update}),
        clock=clock,
        metrics=PurgeMetrics(registry),
    )
    return purger, registry


async def _remaining() -> dict[str, int]:
    return {
        "idempotency_records": await IdempotencyRecord.all().count(),
        "webhook_receipts": await WebhookReceipt.all().count(),
        "outbox_messages": await OutboxMessage.all().count(),
        "orders": await DNAKitOrder.all().count(),
    }


async def test_nothing_young_is_purged(orders_settings, history):
    clock = Clock()
    clock.now += timedelta(hours=23)
    purger, _registry = _purger(orders_settings, clock)

    assert await purger.run_once() == {"idempotency_records": 0, "webhook_receipts": 0, "outbox_messages": 0}
    assert await _remaining() == {
        "idempotency_records": 3,
        "webhook_receipts": 2,
        "outbox_messages": 3,
        "orders": 3,
    }


async def test_each_kind_goes_after_its_own_period_in_batches(orders_settings, history):
    clock = Clock()
    purger, registry = _purger(orders_settings, clock)

    clock.now += timedelta(hours=25)
    assert await purger.run_once() == {"idempotency_records": 3, "webhook_receipts": 0, "outbox_messages": 0}
    clock.now += timedelta(days=7)
    assert await purger.run_once() == {"idempotency_records": 0, "webhook_receipts": 2, "outbox_messages": 1}

    assert await _remaining() == {
        "idempotency_records": 0,
        "webhook_receipts": 0,
        "outbox_messages": 2,  # the pending and the failed one stay
        "orders": 3,
    }
    purged = {
        table: registry.get_sample_value("purged_rows_total", {"table": table})
        for table in ("idempotency_records", "webhook_receipts", "outbox_messages")
    }
    assert purged == {"idempotency_records": 3, "webhook_receipts": 2, "outbox_messages": 1}
    assert await Lease.all().count() == 0  # given back when done


async def test_a_dry_run_counts_and_deletes_nothing(orders_settings, history):
    clock = Clock()
    clock.now += timedelta(days=8)
    purger, _registry = _purger(orders_settings, clock)

    counts = await purger.run_once(dry_run=True)

    assert counts == {"idempotency_records": 3, "webhook_receipts": 2, "outbox_messages": 1}
    assert (await _remaining())["idempotency_records"] == 3


async def test_a_retention_of_zero_keeps_that_kind_forever(orders_settings, history):
    clock = Clock()
    clock.now += timedelta(days=800)
    purger, _registry = _purger(
        orders_settings, clock, retention_idempotency_hours=0, retention_sent_outbox_days=0
    )

    assert await purger.run_once() == {"webhook_receipts": 2}
    assert (await _remaining())["idempotency_records"] == 3


async def test_one_replica_purges_at_a_time(orders_settings, history):
    clock = Clock()
    clock.now += timedelta(days=8)
    purger, _registry = _purger(orders_settings, clock)
    assert await acquire(Lease, "purge", "another-replica", seconds=60, now=clock.now)

    assert await purger.run_once() is None
    assert (await _remaining())["webhook_receipts"] == 2

    clock.now += timedelta(seconds=61)  # the other replica died: its lease ran out
    assert (await purger.run_once())["webhook_receipts"] == 2


def test_the_purge_command(orders_settings, history):
    env = {
        "PATH": "/usr/bin:/bin",
        "ORDERS_DATABASE_URL": orders_settings.database_url,
        "APP_ENV": "development",
        "ORDERS_RETENTION_WEBHOOK_RECEIPTS_DAYS": "0.000001",
    }

    def purge(*flags: str) -> dict:
        result = subprocess.run(
            [sys.executable, "-m", "orders_service", "purge", *flags],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return json.loads(result.stdout)

    assert purge("--dry-run") == {
        "dry_run": True,
        "rows": {"idempotency_records": 0, "webhook_receipts": 2, "outbox_messages": 0},
    }
    assert purge()["rows"]["webhook_receipts"] == 2
    assert purge("--dry-run")["rows"]["webhook_receipts"] == 0


async def test_the_service_purges_in_the_background(aiohttp_client, orders_settings):
    settings = orders_settings.model_copy(
        update={"purge_interval_seconds": 1, "retention_webhook_receipts_days": 0.00001}  # under a second
    )
    client = await aiohttp_client(create_app(settings))
    await WebhookReceipt.create(id="msg_old")

    for _ in range(300):  # a bound, not a timing: the purge runs every second
        if await WebhookReceipt.all().count() == 0:
            break
        await asyncio.sleep(0.1)

    assert await WebhookReceipt.all().count() == 0
    metrics = await (await client.get("/metrics")).text()
    assert 'purged_rows_total{table="webhook_receipts"} 1.0' in metrics
