"""Accepting, reading, retrying and cancelling notifications. Raises domain errors, never HTTP ones."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.query_utils import Prefetch

from apikit.alerts import ConditionLog
from apikit.database import transaction
from apikit.errors import DomainError
from apikit.ids import is_well_formed
from apikit.inserts import Insert
from apikit.tracing import current_traceparent
from notification_gateway.addresses import ADDRESSES, checked_addresses
from notification_gateway.callbacks import CallbackPolicy, CallbackRefused, owe_callback
from notification_gateway.contract import Recipient
from notification_gateway.events import record_event
from notification_gateway.models import REASON_LENGTH, DeliveryAttempt, Notification, NotificationEvent
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.recipient_caps import RecipientCap, address_key, check_cap
from notification_gateway.routing import RoutingRules
from notification_gateway.scheduling import due_time
from notification_gateway.schemas import Delivery, NotifyRequest, RecipientIn
from notification_gateway.status import EventSource, NotificationStatus
from notification_gateway.templates import placeholders_for, render

log = logging.getLogger("notification_gateway.notifications")
_callback_conditions = ConditionLog(log)
# Every notification accepted goes through it: its INSERT is written once, not built per call.
INSERT_NOTIFICATION = Insert(Notification)


class NotificationNotFound(DomainError):
    """No notification with this id belongs to the caller."""


class NotRetryable(DomainError):
    """Only failed notifications can be retried."""


class NotCancellable(DomainError):
    """Sending has started (or the notification is final), so it can no longer be withdrawn."""


class ReferenceNotFound(NotificationNotFound):
    """No notification of the caller's has this reference."""


async def accept(
    request: NotifyRequest,
    *,
    caller: str,
    channels: ChannelRegistry,
    rules: RoutingRules,
    callbacks: CallbackPolicy,
    caps: Mapping[str, RecipientCap],
    default_timezone: ZoneInfo,
    connection: BaseDBAsyncClient,
    now: datetime | None = None,
    item_key: str | None = None,
) -> tuple[Notification, NotificationEvent]:
    """Route, render, schedule and store the notification as `queued` (its first event); workers
    take it when it is due.

    A status callback that cannot be configured (no signing secret for the caller, an origin
    not allowed) never blocks the notification: it is accepted and records why no callback follows.
    """
    return await accept_for(
        request,
        request.recipient,
        caller=caller,
        channels=channels,
        rules=rules,
        callbacks=callbacks,
        caps=caps,
        default_timezone=default_timezone,
        connection=connection,
        now=now or datetime.now(UTC),
        item_key=item_key,
    )


async def accept_for(
    request: Delivery,
    recipient_in: RecipientIn,
    *,
    caller: str,
    channels: ChannelRegistry,
    rules: RoutingRules,
    callbacks: CallbackPolicy,
    caps: Mapping[str, RecipientCap],
    default_timezone: ZoneInfo,
    connection: BaseDBAsyncClient,
    now: datetime,
    item_key: str | None = None,
) -> tuple[Notification, NotificationEvent]:
    """`accept` for one recipient of a single request or of a batch."""
    callback_url = str(request.callback_url) if request.callback_url else None
    callback_refusal = None
    if callback_url is not None:
        try:
            callbacks.check(caller, callback_url)
        except CallbackRefused as refused:
            callback_url, callback_refusal = None, refused.detail
            _callback_conditions.raised(
                f"callback:{caller}",
                "status callbacks refused; notifications still delivered",
                level=logging.WARNING,
                caller=caller,
                reason=refused.detail,
            )
    recipient = Recipient(id=recipient_in.id, name=recipient_in.name, contacts=recipient_in.contacts)
    usable = checked_addresses(channels, channels.names, recipient)  # each checked once, here
    route = rules.resolve(
        explicit=request.channel,
        attributes=request.attributes,
        recipient=recipient,
        channels=channels,
        fallback=request.fallback,
        addresses=usable,
    )
    critical = request.critical or route.critical
    due = due_time(
        now=now,
        send_at=request.send_at,
        quiet=rules.quiet_hours.get(route.channel),
        zone=ZoneInfo(recipient_in.timezone) if recipient_in.timezone else default_timezone,
        critical=critical,
    )
    addresses = {name: usable[name] for name in (route.channel, *route.fallbacks) if name in usable}
    primary = addresses.get(route.channel)
    if primary is None:  # unusable: let the channel say so, as routing lets it through only if usable
        primary = channels.get(route.channel).address_of(recipient)
    key = address_key(route.channel, primary)
    await check_cap(caps, channel=route.channel, key=key, now=now, connection=connection)
    values = placeholders_for(recipient.id, recipient.name, request.attributes)
    notification = await INSERT_NOTIFICATION.create(
        connection,
        caller=caller,
        recipient_id=recipient.id,
        # The zone stays with the recipient: every later send checks quiet hours again in it.
        recipient={"name": recipient.name, "contacts": dict(recipient.contacts), ADDRESSES: addresses}
        | ({"timezone": recipient_in.timezone} if recipient_in.timezone else {}),
        message=render(request.message, values),
        title=render(request.title, values) if request.title else None,
        attributes=request.attributes,
        requested_channel=request.channel,
        channel=route.channel,
        fallback_channels=list(route.fallbacks),
        next_attempt_at=due.at,
        send_at=request.send_at,
        priority=request.priority,
        critical=critical,
        reference=request.reference,
        callback_url=callback_url,
        callback_refusal=callback_refusal,
        traceparent=current_traceparent(),
        address_key=key,
        item_key=item_key,
        confirm_within_seconds=route.confirm_within_seconds if route.fallbacks else None,
        event_count=1,  # its first event, numbered here: no statement needed to count it
    )
    event = await record_event(
        notification,
        NotificationStatus.QUEUED,
        channel=route.channel,
        source=EventSource.CALLER,
        now=now,
        connection=connection,
        reason=(f"{route.reason}; {due.waits_for}" if due.waits_for else route.reason)[:REASON_LENGTH],
        sequence=notification.event_count,
    )
    return notification, event


def _with_attempts() -> list[Prefetch]:
    return [
        Prefetch("attempts", queryset=DeliveryAttempt.all().order_by("number")),
        Prefetch("events", queryset=NotificationEvent.all().order_by("sequence")),
    ]


async def get(notification_id: str, *, caller: str) -> Notification:
    """The caller's notification with its attempts; another caller's is as good as absent."""
    found = None
    if is_well_formed(notification_id):
        found = await Notification.get_or_none(id=notification_id, caller=caller).prefetch_related(
            *_with_attempts()
        )
    if found is None:
        raise NotificationNotFound(f"No notification has the id {notification_id!r}.")
    return found


async def page(
    *,
    caller: str,
    limit: int,
    after: str | None,
    statuses: Sequence[NotificationStatus],
    channel: str | None,
    recipient_id: str | None,
) -> tuple[list[Notification], str | None]:
    """The caller's notifications, newest first, and the id to continue after (None on the last page)."""
    query = Notification.filter(caller=caller)
    if statuses:
        query = query.filter(status__in=list(statuses))
    if channel:
        query = query.filter(channel=channel)
    if recipient_id:
        query = query.filter(recipient_id=recipient_id)
    if after is not None:
        query = query.filter(id__lt=after)
    found = await query.order_by("-id").limit(limit + 1).prefetch_related(*_with_attempts())
    if len(found) > limit:
        return found[:limit], found[limit - 1].id
    return found, None


async def retry(notification_id: str, *, caller: str) -> Notification:
    """Queue a failed notification again on its last channel, with a fresh attempt budget."""
    notification = await get(notification_id, caller=caller)
    if notification.status is not NotificationStatus.FAILED:
        raise NotRetryable(f"Only failed notifications can be retried; this one is {notification.status}.")
    now = datetime.now(UTC)
    async with transaction() as connection:
        updated = await (
            Notification.filter(id=notification.id, status=NotificationStatus.FAILED)
            .using_db(connection)
            .update(
                status=NotificationStatus.QUEUED,
                attempts_on_channel=0,
                next_attempt_at=now,
                finished_at=None,
                updated_at=now,
            )
        )
        if not updated:
            raise NotRetryable("The notification changed while it was being retried; read it again.")
        await record_event(
            notification,
            NotificationStatus.QUEUED,
            channel=notification.channel,
            source=EventSource.CALLER,
            now=now,
            connection=connection,
            reason="retried by the caller",
        )
    return await get(notification_id, caller=caller)


async def cancel(notification_id: str, *, caller: str) -> Notification:
    """Withdraw a notification no provider has been asked to send; cancelling twice is harmless.

    Only a `queued` notification with no attempt yet qualifies: once a worker has claimed it,
    or any attempt was made (a timed-out one may have reached the provider), it is too late.
    The update is conditional, so a worker claiming it at the same moment wins or loses cleanly."""
    notification = await get(notification_id, caller=caller)
    if notification.status is NotificationStatus.CANCELLED:
        return notification
    if not await _withdraw(notification, now=datetime.now(UTC)):
        current = await get(notification_id, caller=caller)
        raise NotCancellable(
            f"Sending has started, so it can no longer be cancelled; this notification is {current.status}"
            f" after {current.attempt_count} attempt(s)."
        )
    return await get(notification_id, caller=caller)


async def cancel_by_reference(reference: str, *, caller: str) -> tuple[list[str], list[Notification]]:
    """Withdraw every one of the caller's notifications with `reference` that `cancel` would:
    (the ids cancelled now, the others with that reference still sending or final)."""
    found = await Notification.filter(caller=caller, reference=reference).order_by("id")
    if not found:
        raise ReferenceNotFound(f"No notification of yours has the reference {reference!r}.")
    now = datetime.now(UTC)
    cancelled = [
        notification.id
        for notification in found
        if notification.status is not NotificationStatus.CANCELLED and await _withdraw(notification, now=now)
    ]
    others = await Notification.filter(
        caller=caller, reference=reference, status__not=NotificationStatus.CANCELLED
    ).order_by("id")
    return cancelled, others


async def _withdraw(notification: Notification, *, now: datetime) -> bool:
    """Cancel `notification` if still no provider has been asked to send it, and owe its caller the
    callback, in one transaction; False (nothing written) once sending has started."""
    async with transaction() as connection:
        updated = await (
            Notification.filter(id=notification.id, status=NotificationStatus.QUEUED, attempt_count=0)
            .using_db(connection)
            .update(status=NotificationStatus.CANCELLED, finished_at=now, updated_at=now)
        )
        if updated:
            event = await record_event(
                notification,
                NotificationStatus.CANCELLED,
                channel=notification.channel,
                source=EventSource.CALLER,
                now=now,
                connection=connection,
                reason="cancelled by the caller",
            )
            await owe_callback(
                notification, event, kind=str(NotificationStatus.CANCELLED), connection=connection
            )
    return bool(updated)
