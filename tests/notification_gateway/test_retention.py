"""Retention in the gateway: final notifications go with their attempts, callbacks and receipts,
delivered ones after 30 days, failed ones after 90, never one whose callback is still owed; receipts
that never matched a send go after 7 days. Injected clock, real database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from apikit.purge import PurgeMetrics
from notification_gateway.models import (
    Callback,
    DeliveryAttempt,
    IdempotencyRecord,
    Notification,
    ProviderReceiptRecord,
)
from notification_gateway.retention import gateway_purger
from notification_gateway.status import AttemptOutcome, CallbackStatus, NotificationStatus
from tests.notification_gateway.conftest import notify
from tests.notification_gateway.test_delivery import Clock


async def _finish(notification_id: str, status: NotificationStatus, at: datetime, callback=None) -> None:
    await Notification.filter(id=notification_id).update(status=status, finished_at=at)
    await DeliveryAttempt.create(
        notification_id=notification_id,
        number=1,
        channel="email",
        outcome=AttemptOutcome.SENT,
        started_at=at,
        duration_ms=1.0,
    )
    if callback is not None:
        await Callback.create(
            notification_id=notification_id,
            url="http://127.0.0.1:8080/hooks",
            payload={},
            next_attempt_at=at,
            status=callback,
        )


async def _accepted(client, key: str) -> str:
    response = await notify(client, headers={"Idempotency-Key": key})
    return (await response.json())["id"]


async def test_final_notifications_go_with_their_attempts_and_callbacks(client, gateway_settings):
    now = datetime.now(UTC)
    delivered = await _accepted(client, "k1")
    failed = await _accepted(client, "k2")
    owed = await _accepted(client, "k3")
    queued = await _accepted(client, "k4")
    await _finish(delivered, NotificationStatus.DELIVERED, now, callback=CallbackStatus.DELIVERED)
    await _finish(failed, NotificationStatus.FAILED, now, callback=CallbackStatus.ABANDONED)
    await _finish(owed, NotificationStatus.DELIVERED, now, callback=CallbackStatus.PENDING)
    clock = Clock()
    registry = CollectorRegistry()
    purger = gateway_purger(
        gateway_settings.model_copy(update={"purge_batch_size": 1}),
        clock=clock,
        metrics=PurgeMetrics(registry),
    )

    clock.now = now + timedelta(days=29)
    assert await purger.run_once() == {
        "idempotency_records": 4,
        "notifications": 0,
        "provider_receipts": 0,
    }
    clock.now = now + timedelta(days=31)
    assert await purger.run_once() == {
        "idempotency_records": 0,
        "notifications": 1,
        "delivery_attempts": 1,
        "callbacks": 1,
        "notification_events": 1,  # its acceptance
        "confirmation_timers": 0,
        "provider_receipts": 0,
    }
    assert set(await Notification.all().values_list("id", flat=True)) == {failed, owed, queued}
    clock.now = now + timedelta(days=91)
    assert (await purger.run_once())["notifications"] == 1

    assert set(await Notification.all().values_list("id", flat=True)) == {owed, queued}
    assert await DeliveryAttempt.all().count() == 1  # the owed one's
    assert await IdempotencyRecord.all().count() == 0
    assert registry.get_sample_value("purged_rows_total", {"table": "notifications"}) == 2
    assert registry.get_sample_value("purged_rows_total", {"table": "callbacks"}) == 2


async def _receipt(event_id: str, received_at: datetime, notification_id: str | None = None) -> None:
    row = await ProviderReceiptRecord.create(
        channel="email",
        event_id=event_id,
        provider_reference=f"ref-{event_id}",
        status="delivered",
        occurred_at=received_at,
        notification_id=notification_id,
    )
    await ProviderReceiptRecord.filter(id=row.id).update(received_at=received_at)  # it was auto_now_add


async def test_receipts_that_never_matched_a_send_go_after_a_week(client, gateway_settings):
    now = datetime.now(UTC)
    delivered = await _accepted(client, "k1")
    await _finish(delivered, NotificationStatus.DELIVERED, now)
    await _receipt("old-unmatched", now)
    await _receipt("new-unmatched", now + timedelta(days=6))
    await _receipt("matched", now, notification_id=delivered)  # goes with its notification, not before
    clock = Clock()
    clock.now = now + timedelta(days=8)
    purger = gateway_purger(gateway_settings.model_copy(update={"purge_batch_size": 1}), clock=clock)

    dry = await purger.run_once(dry_run=True)
    assert (dry["provider_receipts"], dry["notifications"]) == (1, 0)
    assert await ProviderReceiptRecord.all().count() == 3
    assert (await purger.run_once())["provider_receipts"] == 1
    assert set(await ProviderReceiptRecord.all().values_list("event_id", flat=True)) == {
        "new-unmatched",
        "matched",
    }

    clock.now = now + timedelta(days=31)
    assert (await purger.run_once())["provider_receipts"] == 2  # the new one, and the delivered one's
    assert await ProviderReceiptRecord.all().count() == 0


async def test_each_period_can_be_switched_off(client, gateway_settings):
    now = datetime.now(UTC)
    await _finish(await _accepted(client, "k1"), NotificationStatus.DELIVERED, now)
    await _receipt("unmatched", now)
    settings = gateway_settings.model_copy(
        update={
            "retention_delivered_days": 0,
            "retention_failed_days": 0,
            "retention_idempotency_hours": 0,
            "retention_unmatched_receipts_days": 0,
        }
    )
    clock = Clock()
    clock.now = now + timedelta(days=3650)

    assert await gateway_purger(settings, clock=clock).run_once() == {}
    assert await Notification.all().count() == 1
    assert await ProviderReceiptRecord.all().count() == 1


def test_the_purge_command(gateway_settings):
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "development",
        "GATEWAY_DATABASE_URL": gateway_settings.database_url,
        "GATEWAY_PLUGINS": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "notification_gateway", "purge", "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    assert json.loads(result.stdout) == {
        "dry_run": True,
        "rows": {"idempotency_records": 0, "notifications": 0, "provider_receipts": 0},
    }
