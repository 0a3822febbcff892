"""What the orders service deletes, and when: idempotency records, webhook receipts, sent outbox rows.

Orders, users and failed or pending outbox rows are never purged here.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.expressions import Q

from apikit.purge import PurgeMetrics, Purger, PurgeRule, idempotency_rule, retention_of
from apikit.queue import Clock, utc_now
from orders_service.lifecycle import OutboxStatus
from orders_service.models import IdempotencyRecord, Lease, OutboxMessage, WebhookReceipt
from orders_service.settings import OrdersSettings


def _receipt_older_than(cutoff: datetime) -> Q:
    return Q(received_at__lt=cutoff)


def _sent_before(cutoff: datetime) -> Q:
    return Q(status=OutboxStatus.SENT, sent_at__lt=cutoff)


def orders_purger(
    settings: OrdersSettings, *, clock: Clock = utc_now, metrics: PurgeMetrics | None = None
) -> Purger:
    rules = [
        idempotency_rule(IdempotencyRecord, settings.retention_idempotency_hours),
        PurgeRule(
            WebhookReceipt,
            retention_of(settings.retention_webhook_receipts_days, "days"),
            _receipt_older_than,
        ),
        PurgeRule(OutboxMessage, retention_of(settings.retention_sent_outbox_days, "days"), _sent_before),
    ]
    return Purger(
        rules, lease_model=Lease, batch_size=settings.purge_batch_size, clock=clock, metrics=metrics
    )
