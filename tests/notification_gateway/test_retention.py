"""Retention in the gateway: final notifications go with their attempts and callbacks, delivered ones
after 30 days, failed ones after 90, never one whose callback is still owed. Injected clock, real
database."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from apikit.purge import PurgeMetrics
from notification_gateway.models import Callback, DeliveryAttempt, IdempotencyRecord, Notification
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
    assert await purger.run_once() == {"idempotency_records": 4, "notifications": 0}
    clock.now = now + timedelta(days=31)
    assert await purger.run_once() == {
        "idempotency_records": 0,
        "notifications": 1,
        "delivery_attempts": 1,
        "callbacks": 1,
        "notification_events": 1,  # its acceptance
        "confirmation_timers": 0,
    }
    assert set(await Notification.all().values_list("id", flat=True)) == {failed, owed, queued}
    clock.now = now + timedelta(days=91)
    assert (await purger.run_once())["notifications"] == 1

    assert set(await Notification.all().values_list("id", flat=True)) == {owed, queued}
    assert await DeliveryAttempt.all().count() == 1  # the owed one's
    assert await IdempotencyRecord.all().count() == 0
    assert registry.get_sample_value("purged_rows_total", {"table": "notifications"}) == 2
    assert registry.get_sample_value("purged_rows_total", {"table": "callbacks"}) == 2


async def test_each_period_can_be_switched_off(client, gateway_settings):
    now = datetime.now(UTC)
    await _finish(await _accepted(client, "k1"), NotificationStatus.DELIVERED, now)
    settings = gateway_settings.model_copy(
        update={"retention_delivered_days": 0, "retention_failed_days": 0, "retention_idempotency_hours": 0}
    )
    clock = Clock()
    clock.now = now + timedelta(days=3650)

    assert await gateway_purger(settings, clock=clock).run_once() == {}
    assert await Notification.all().count() == 1


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
        "rows": {"idempotency_records": 0, "notifications": 0},
    }
