"""Delivery receipts and inbound messages from providers: checked, read by the plugin, applied.

`POST /receipts/{channel}` takes no caller token: the provider's signature is
the authentication (`Channel.verify_webhook`), checked before the plugin reads a
byte. Each receipt is kept (`provider_receipts`), so a repeated one is applied
once, and one that arrives before the gateway has recorded the send it reports
on (the provider can be faster than our commit) waits there and is applied when
the send is recorded. A receipt only moves a notification forward, and only
while it is still `sent` on the receipt's channel: a late receipt for a channel
the notification has left is recorded as an event and changes nothing.
An `undelivered` or `bounced` receipt moves the notification on to its next
fallback channel, and counts against the address (see `suppression`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from apikit.database import transaction
from apikit.errors import DomainError
from notification_gateway import suppression
from notification_gateway.contract import (
    Channel,
    InboundMessage,
    ProviderReceipt,
    Recipient,
    RecipientUnreachable,
)
from notification_gateway.events import record_event
from notification_gateway.http_channel import HttpChannel
from notification_gateway.models import (
    ConfirmationTimer,
    DeliveryAttempt,
    Notification,
    ProviderReceiptRecord,
)
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.status import EventSource, NotificationStatus, ReceiptStatus, TimerStatus
from notification_gateway.suppression import SuppressionRules

log = logging.getLogger("notification_gateway.receipts")

MAX_ID_CHARS = 128
#: What a plugin's parser may raise for a body it cannot read: a 400, never a 500.
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


class NoWebhooks(DomainError):
    """The channel is not installed, or reads no receipts (or inbound messages)."""


class WebhookRefused(DomainError):
    """The request is not signed with the channel's key, or the signature is stale."""


class WebhookUnreadable(DomainError):
    """Signed, but not a body the channel can read."""


def reads(channel: Channel | None, capability: str) -> bool:
    """Whether `channel` has the capability (`parse_receipt`, `parse_inbound`) and can check signatures."""
    if channel is None or not callable(getattr(channel, capability, None)):
        return False
    if isinstance(channel, HttpChannel) and type(channel).verify_webhook is HttpChannel.verify_webhook:
        return getattr(channel.settings, "receipt_secret", None) is not None
    return type(channel).verify_webhook is not Channel.verify_webhook


def _channel(channels: ChannelRegistry, name: str, capability: str) -> Channel:
    channel = channels.get(name)
    if not reads(channel, capability):
        what = "receipts" if capability == "parse_receipt" else "inbound messages"
        raise NoWebhooks(f"The channel {name!r} is not installed here or takes no {what}.")
    assert channel is not None
    return channel


def _verified(channel: Channel, headers: Mapping[str, str], body: bytes) -> None:
    try:
        signed = channel.verify_webhook(headers, body)
    except Exception:
        log.exception("channel %s could not check a signature", channel.name)
        signed = False
    if not signed:
        raise WebhookRefused(
            f"The request is not signed with the {channel.name} provider's key, or the signature is "
            "more than five minutes old."
        )


def _text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise WebhookUnreadable(f"Each event needs {what}: text of 1 to {MAX_ID_CHARS} characters.")
    return value


def _moment(value: object) -> datetime:
    if not isinstance(value, datetime):
        raise WebhookUnreadable("Each event needs the time it happened.")
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def read_receipts(
    channels: ChannelRegistry, name: str, headers: Mapping[str, str], body: bytes
) -> list[ProviderReceipt]:
    """The receipts in a provider's request, once its signature checks out; domain errors otherwise."""
    return receipts_from(_channel(channels, name, "parse_receipt"), headers, body)


def receipts_from(channel: Channel, headers: Mapping[str, str], body: bytes) -> list[ProviderReceipt]:
    """`read_receipts` for one channel: WebhookRefused, WebhookUnreadable, or checked receipts."""
    name = channel.name
    _verified(channel, headers, body)
    try:
        found = list(channel.parse_receipt(headers, body))  # type: ignore[attr-defined]
    except UNREADABLE:
        raise WebhookUnreadable(f"The body is not a list of {name} receipts.") from None
    statuses = {str(status) for status in ReceiptStatus}
    for receipt in found:
        if not isinstance(receipt, ProviderReceipt):
            raise WebhookUnreadable(f"The body is not a list of {name} receipts.")
        _text(receipt.reference, "the provider's message reference")
        _text(receipt.event_id, "an event id")
        _moment(receipt.occurred_at)
        if receipt.status not in statuses:
            raise WebhookUnreadable(f"A receipt's status must be one of {', '.join(sorted(statuses))}.")
    return found


def read_inbound(
    channels: ChannelRegistry, name: str, headers: Mapping[str, str], body: bytes
) -> list[InboundMessage]:
    """The inbound messages in a provider's request, once its signature checks out."""
    channel = _channel(channels, name, "parse_inbound")
    _verified(channel, headers, body)
    try:
        found = list(channel.parse_inbound(headers, body))  # type: ignore[attr-defined]
    except UNREADABLE:
        raise WebhookUnreadable(f"The body is not a list of {name} inbound messages.") from None
    for message in found:
        if not isinstance(message, InboundMessage) or not isinstance(message.text, str):
            raise WebhookUnreadable(f"The body is not a list of {name} inbound messages.")
        _text(message.sender, "the sender's address")
        _text(message.event_id, "an event id")
    return found


@dataclass
class Applied:
    """What a request's events did. `woke`: a notification was queued again (a fallback hop)."""

    received: int = 0
    applied: int = 0
    ignored: int = 0
    woke: bool = False
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ReceiptContext:
    channels: ChannelRegistry
    rules: SuppressionRules


async def _lock(connection: BaseDBAsyncClient, channel: str, reference: str) -> None:
    """Serialise a receipt with the recording of the send it names (PostgreSQL; SQLite has one writer)."""
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            "SELECT pg_advisory_xact_lock(hashtext($1))", [_lock_name(channel, reference)]
        )


def receipt_locks(keys: Sequence[tuple[str, str]]) -> list[str]:
    """The names of `_lock` for many sends (channel, reference), in the fixed order they are taken
    in (two batches never wait on each other in a circle)."""
    return sorted({_lock_name(channel, reference) for channel, reference in keys})


async def _lock_all(connection: BaseDBAsyncClient, keys: Sequence[tuple[str, str]]) -> None:
    """`_lock` for many sends in one statement."""
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            "SELECT pg_advisory_xact_lock(hashtext(name)) FROM unnest($1::text[]) AS name",
            [receipt_locks(keys)],
        )


def _lock_name(channel: str, reference: str) -> str:
    return f"receipt\n{channel}\n{reference}"


async def apply_receipts(
    context: ReceiptContext, channel: str, receipts: Sequence[ProviderReceipt]
) -> Applied:
    """Apply each receipt in its own transaction; duplicates and unknown references are acknowledged."""
    outcome = Applied(received=len(receipts))
    for receipt in receipts:
        try:
            applied, woke = await _apply_one(context, channel, receipt)
        except IntegrityError:  # the same receipt, applied by a concurrent request
            applied, woke = False, False
        outcome.applied += applied
        outcome.ignored += not applied
        outcome.woke |= woke
    return outcome


async def _apply_one(context: ReceiptContext, channel: str, receipt: ProviderReceipt) -> tuple[bool, bool]:
    async with transaction() as connection:
        await _lock(connection, channel, receipt.reference)
        seen = ProviderReceiptRecord.filter(channel=channel, event_id=receipt.event_id).using_db(connection)
        if await seen.exists():
            return False, False
        attempt = (
            await DeliveryAttempt.filter(channel=channel, provider_reference=receipt.reference)
            .using_db(connection)
            .order_by("-id")
            .first()
        )
        await ProviderReceiptRecord.create(
            using_db=connection,
            channel=channel,
            event_id=receipt.event_id,
            provider_reference=receipt.reference,
            status=receipt.status,
            reason=(receipt.reason or "")[:100] or None,
            occurred_at=_moment(receipt.occurred_at),
            notification_id=attempt.notification_id if attempt else None,
        )
        if attempt is None:
            return False, False  # unknown so far: applied if the send it names is recorded later
        return await apply_to_notification(
            context,
            attempt.notification_id,
            channel=channel,
            status=ReceiptStatus(receipt.status),
            reason=receipt.reason,
            connection=connection,
        )


@dataclass(frozen=True)
class RecordedSend:
    """A send being recorded whose provider gave a reference that receipts may name."""

    notification_id: str
    channel: str
    reference: str


_EARLY_RECEIPTS = """
SELECT * FROM "provider_receipts"
WHERE "provider_reference" = ANY($1::text[]) AND "notification_id" IS NULL
ORDER BY "occurred_at"
"""


async def apply_early_receipts(
    context: ReceiptContext,
    sends: Sequence[RecordedSend],
    connection: BaseDBAsyncClient,
    *,
    locked: bool = False,
) -> set[str]:
    """In the transaction recording sends: apply receipts that came before them (one lookup for
    all). The ids of the notifications a receipt sent on to a fallback. `locked`: the transaction
    already holds the sends' locks (`receipt_locks`), taken in an earlier statement, so this
    lookup sees every receipt a concurrent request stored without seeing the send."""
    if not sends:
        return set()
    if not locked:
        await _lock_all(connection, [(send.channel, send.reference) for send in sends])
    by_reference = {(send.channel, send.reference): send.notification_id for send in sends}
    references = sorted({send.reference for send in sends})
    if connection.capabilities.dialect == "postgres":  # in every batch of records: written once
        rows = await connection.execute_query_dict(_EARLY_RECEIPTS, [references])
        early = [ProviderReceiptRecord._init_from_db(**row) for row in rows]
    else:
        early = (
            await ProviderReceiptRecord.filter(
                provider_reference__in=references, notification_id__isnull=True
            )
            .using_db(connection)
            .order_by("occurred_at")
        )
    hopped_ids: set[str] = set()
    for record in early:
        notification_id = by_reference.get((record.channel, record.provider_reference))
        if notification_id is None:
            continue
        await (
            ProviderReceiptRecord.filter(id=record.id)
            .using_db(connection)
            .update(notification_id=notification_id)
        )
        _applied, hopped = await apply_to_notification(
            context,
            notification_id,
            channel=record.channel,
            status=ReceiptStatus(record.status),
            reason=record.reason,
            connection=connection,
        )
        if hopped:
            hopped_ids.add(notification_id)
    return hopped_ids


def _address_hash(context: ReceiptContext, notification: Notification, channel: str) -> str | None:
    found = context.channels.get(channel)
    if found is None:
        return None
    recipient = Recipient(
        notification.recipient_id, notification.recipient.get("name", ""), notification.recipient["contacts"]
    )
    try:
        address = found.address_of(recipient)
    except RecipientUnreachable:
        return None
    return context.rules.address_hash(channel, address)


async def apply_to_notification(
    context: ReceiptContext,
    notification_id: str,
    *,
    channel: str,
    status: ReceiptStatus,
    reason: str | None,
    connection: BaseDBAsyncClient,
) -> tuple[bool, bool]:
    """(applied, queued again for a fallback). Only a `sent` notification on `channel` moves."""
    notification = await Notification.get(id=notification_id, using_db=connection)
    now = datetime.now(UTC)
    new = NotificationStatus(str(status))
    address_hash = _address_hash(context, notification, channel)
    suppressed = None
    if address_hash is not None:
        suppressed = await suppression.note_receipt(
            context.rules,
            channel=channel,
            address_hash=address_hash,
            status=status,
            now=now,
            connection=connection,
        )
    said = f"{status} on {channel}" + (f" ({reason})" if reason else "")
    if suppressed:
        said += f"; the address is now suppressed on {channel}"
    if notification.channel != channel or notification.status is not NotificationStatus.SENT:
        if notification.channel != channel:  # a late word about a channel it has left: history only
            await record_event(
                notification,
                new,
                channel=channel,
                source=EventSource.PROVIDER,
                now=now,
                connection=connection,
                reason=f"late receipt: {said}",
                tell_caller=False,
            )
        return False, False
    still_sent = Notification.filter(id=notification.id, status=NotificationStatus.SENT, channel=channel)
    await (
        ConfirmationTimer.filter(notification_id=notification.id, status=TimerStatus.WAITING)
        .using_db(connection)
        .update(status=TimerStatus.DONE)
    )
    if new is NotificationStatus.DELIVERED or not notification.fallback_channels:
        if not await still_sent.using_db(connection).update(status=new, finished_at=now, updated_at=now):
            return False, False
        await record_event(
            notification,
            new,
            channel=channel,
            source=EventSource.PROVIDER,
            now=now,
            connection=connection,
            reason=said,
        )
        return True, False
    hopped = await hop(
        notification,
        reason=said,
        source=EventSource.GATEWAY,
        now=now,
        connection=connection,
        cause=(new, said),
    )
    return hopped, hopped


async def hop(
    notification: Notification,
    *,
    reason: str,
    source: EventSource,
    now: datetime,
    connection: BaseDBAsyncClient,
    cause: tuple[NotificationStatus, str] | None = None,
) -> bool:
    """Queue a `sent` notification again on its next fallback channel; False if it is no longer `sent`
    on its channel (a receipt or a timer got there first).

    `cause` is the provider's bad news (`bounced`, and what it said) that made the hop: it is recorded
    first, as its own event, so the history shows the bounce and then the move, each with its source.
    The notification never rests at that status (it moves on in the same transaction), so the caller
    hears of it once, in the `fallback` callback, whose reason names it; not as a final `bounced`."""
    following, rest = notification.fallback_channels[0], list(notification.fallback_channels[1:])
    moved = await (
        Notification.filter(id=notification.id, status=NotificationStatus.SENT, channel=notification.channel)
        .using_db(connection)
        .update(
            status=NotificationStatus.QUEUED,
            channel=following,
            fallback_channels=rest,
            attempts_on_channel=0,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    if not moved:
        return False
    if cause is not None:
        status, said = cause
        await record_event(
            notification,
            status,
            channel=notification.channel,
            source=EventSource.PROVIDER,
            now=now,
            connection=connection,
            reason=said,
            tell_caller=False,
        )
    await record_event(
        notification,
        NotificationStatus.QUEUED,
        channel=following,
        source=source,
        now=now,
        connection=connection,
        reason=f"{reason}: trying {following}",
        kind="fallback",
    )
    return True


async def apply_inbound(context: ReceiptContext, channel: str, messages: Sequence[InboundMessage]) -> Applied:
    """`STOP` (and the other stop words) opts the sender out of the channel; `START` back in."""
    outcome = Applied(received=len(messages))
    installed = context.channels.get(channel)
    assert installed is not None
    for message in messages:
        word = message.text.strip().upper()
        try:
            address = installed.check_address(message.sender.strip())
        except ValueError:
            outcome.ignored += 1
            continue
        address_hash = context.rules.address_hash(channel, address)
        async with transaction() as connection:
            if word in suppression.STOP_WORDS:
                await suppression.opt_out(channel, address_hash, now=datetime.now(UTC), connection=connection)
            elif word in suppression.START_WORDS:
                await suppression.opt_in(channel, address_hash, connection=connection)
            else:
                outcome.ignored += 1
                continue
        outcome.applied += 1
    return outcome


async def find_suppression(context: ReceiptContext, channel: str, address: str) -> list:
    """The suppression in force for `address` on `channel`, as a list of none or one."""
    installed = context.channels.get(channel)
    if installed is None:
        available = ", ".join(context.channels.names) or "none are installed"
        raise suppression.NoSuchChannel(f"No channel is called {channel!r}. Available: {available}.")
    try:
        checked = installed.check_address(address.strip())
    except ValueError:
        return []
    found = await suppression.active(channel, context.rules.address_hash(channel, checked))
    return [found] if found is not None else []
