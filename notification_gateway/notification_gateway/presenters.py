"""From database rows to the gateway's JSON shapes."""

from __future__ import annotations

from collections.abc import Iterable

from notification_gateway.flow import FlowConfig
from notification_gateway.models import ChannelState, DeliveryAttempt, Notification, NotificationEvent
from notification_gateway.plugins import InstalledChannel
from notification_gateway.receipts import reads
from notification_gateway.schemas import (
    AttemptView,
    CallbackPlan,
    ChannelView,
    EventView,
    FlowView,
    NotificationView,
)
from notification_gateway.status import NotificationStatus


def notification_view(
    notification: Notification,
    attempts: Iterable[DeliveryAttempt] | None = None,
    events: Iterable[NotificationEvent] | None = None,
) -> NotificationView:
    """`attempts` and `events` default to the prefetched ones. Contact points are never shown."""
    waiting = notification.status in (NotificationStatus.QUEUED, NotificationStatus.SENDING)
    return NotificationView(
        id=notification.id,
        status=notification.status,
        channel=notification.channel,
        requested_channel=notification.requested_channel,
        fallback_channels=notification.fallback_channels,
        confirm_within_seconds=notification.confirm_within_seconds,
        recipient_id=notification.recipient_id,
        reference=notification.reference,
        message=notification.message,
        title=notification.title,
        attributes=notification.attributes,
        priority=notification.priority,
        critical=notification.critical,
        send_at=notification.send_at,
        next_attempt_at=notification.next_attempt_at if waiting else None,
        created_at=notification.created_at,
        updated_at=notification.updated_at,
        finished_at=notification.finished_at,
        callback=CallbackPlan(
            will_be_sent=notification.callback_url is not None, reason=notification.callback_refusal
        ),
        attempts=[
            AttemptView(
                number=attempt.number,
                channel=attempt.channel,
                outcome=attempt.outcome,
                provider_status=attempt.provider_status,
                error=attempt.error,
                retry_after_seconds=attempt.retry_after_seconds,
                provider_reference=attempt.provider_reference,
                counted=attempt.counted,
                started_at=attempt.started_at,
                duration_ms=attempt.duration_ms,
            )
            for attempt in (notification.attempts if attempts is None else attempts)
        ],
        events=[
            EventView(
                sequence=event.sequence,
                status=event.status,
                channel=event.channel,
                source=event.source,
                reason=event.reason,
                occurred_at=event.occurred_at,
            )
            for event in (notification.events if events is None else events)
        ],
    )


def channel_view(entry: InstalledChannel, state: ChannelState, config: FlowConfig) -> ChannelView:
    name = entry.channel.name
    breaker, rate = config.breaker(name), config.rates.get(name)
    return ChannelView(
        name=name,
        description=entry.channel.description,
        recipient_field=entry.channel.recipient_field,
        plugin=entry.plugin,
        version=entry.version,
        receipts=reads(entry.channel, "parse_receipt"),
        flow=FlowView(
            circuit=state.circuit,
            failures=state.failures,
            breaker=breaker.spec if breaker else None,
            opened_at=state.opened_at,
            opened_by=state.opened_by,
            probe_at=state.probe_at,
            paused_until=state.paused_until,
            send_rate=rate.spec if rate else None,
        ),
    )
