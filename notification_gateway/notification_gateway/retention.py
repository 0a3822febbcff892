"""What the gateway deletes, and when: idempotency records; final notifications with their
attempts, events, callbacks and receipts (sent and delivered ones sooner than failed, undelivered,
bounced and suppressed ones, which someone may still look into or retry); and provider receipts
that never matched a send (a reference the gateway never sent, or a send that was never recorded):
one is kept only so that it can still be applied if its send is recorded late, which after days it
will not be.

A notification whose callback is still owed (pending or being sent) is kept until that is settled.
"""

from __future__ import annotations

from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q, Subquery

from apikit.purge import PurgeMetrics, Purger, PurgeRule, idempotency_rule, retention_of
from apikit.queue import Clock, utc_now
from notification_gateway.models import (
    Callback,
    ConfirmationTimer,
    DeliveryAttempt,
    IdempotencyRecord,
    Lease,
    Notification,
    NotificationEvent,
    ProviderReceiptRecord,
)
from notification_gateway.settings import GatewaySettings
from notification_gateway.status import CallbackStatus, NotificationStatus

OWED = [CallbackStatus.PENDING, CallbackStatus.SENDING]


def _finished_before(*statuses: NotificationStatus):
    def old(cutoff: datetime) -> Q:
        owed = Callback.filter(status__in=OWED).values("notification_id")
        # `sent` has no finish: its receipt may never come; it counts from its last change.
        ended = Q(finished_at__lt=cutoff) | Q(finished_at__isnull=True, updated_at__lt=cutoff)
        return Q(status__in=list(statuses)) & ended & ~Q(id__in=Subquery(owed))

    return old


async def _delete_notifications(ids: list, connection: BaseDBAsyncClient) -> dict[str, int]:
    """Attempts and callbacks first, then the notifications, in the batch's one transaction."""
    return {
        "delivery_attempts": await DeliveryAttempt.filter(notification_id__in=ids)
        .using_db(connection)
        .delete(),
        "callbacks": await Callback.filter(notification_id__in=ids).using_db(connection).delete(),
        "notification_events": await NotificationEvent.filter(notification_id__in=ids)
        .using_db(connection)
        .delete(),
        "confirmation_timers": await ConfirmationTimer.filter(notification_id__in=ids)
        .using_db(connection)
        .delete(),
        "provider_receipts": await ProviderReceiptRecord.filter(notification_id__in=ids)
        .using_db(connection)
        .delete(),
        "notifications": await Notification.filter(id__in=ids).using_db(connection).delete(),
    }


def _unmatched_before(cutoff: datetime) -> Q:
    return Q(notification_id__isnull=True, received_at__lt=cutoff)


def gateway_purger(
    settings: GatewaySettings, *, clock: Clock = utc_now, metrics: PurgeMetrics | None = None
) -> Purger:
    rules = [
        idempotency_rule(IdempotencyRecord, settings.retention_idempotency_hours),
        PurgeRule(
            Notification,
            retention_of(settings.retention_delivered_days, "days"),
            _finished_before(NotificationStatus.DELIVERED, NotificationStatus.SENT),
            _delete_notifications,
        ),
        PurgeRule(
            Notification,
            retention_of(settings.retention_failed_days, "days"),
            _finished_before(
                NotificationStatus.FAILED,
                NotificationStatus.UNDELIVERED,
                NotificationStatus.BOUNCED,
                NotificationStatus.SUPPRESSED,
            ),
            _delete_notifications,
        ),
        PurgeRule(
            ProviderReceiptRecord,
            retention_of(settings.retention_unmatched_receipts_days, "days"),
            _unmatched_before,
        ),
    ]
    return Purger(
        rules, lease_model=Lease, batch_size=settings.purge_batch_size, clock=clock, metrics=metrics
    )
