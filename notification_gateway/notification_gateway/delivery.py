"""Delivery workers: claim due notifications under a lease, send each through its channel, record it.

Several processes can share one PostgreSQL queue (see `apikit.queue`): every
write after a claim is conditional on still holding the lease, so no two
workers deliver the same notification at once. A worker that dies simply lets
its leases run out; another (or the restarted process) picks the work up. On
SQLite one process delivers.

Flow control (`flow`) decides what is claimed: rows of a channel whose circuit is
open or that a provider paused stay in the queue, a paced channel's rows are
claimed only as send slots allow, and the one probe of a half-open circuit is
claimed on its own.

Quiet hours (`scheduling.QuietHours`) are checked again just before each send,
whatever queued the notification again: one that comes due within the quiet
hours of its channel goes back to the queue until they end, using no attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Unpack

import aiohttp
from tortoise.expressions import Q

from apikit.database import is_database_unavailable
from apikit.planner import PlannerStatistics
from apikit.queue import QueueWorker, WorkerOptions
from notification_gateway import suppression
from notification_gateway.addresses import checked_address
from notification_gateway.contract import (
    Channel,
    Message,
    PermanentDeliveryError,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.flow import FlowControl
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.models import Notification
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.policy import RetryPolicy
from notification_gateway.receipts import ReceiptContext
from notification_gateway.recording import Attempt, AttemptRecorder, Recorded
from notification_gateway.scheduling import QuietHours
from notification_gateway.sending import send
from notification_gateway.status import AttemptOutcome, NotificationStatus

log = logging.getLogger("notification_gateway.delivery")

QUEUE_DEPTH_EVERY_SECONDS = 1.0
FLOW_READ_EVERY_SECONDS = 0.25
RECORD_RETRY_PAUSES = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def _message(notification: Notification) -> Message:
    """The message for the notification's current channel, with the address `/notify` checked for it."""
    recipient = notification.recipient
    return Message(
        notification_id=notification.id,
        recipient=Recipient(notification.recipient_id, recipient["name"], recipient.get("contacts", {})),
        text=notification.message,
        title=notification.title,
        attributes=notification.attributes or {},
        address=checked_address(recipient, notification.channel) or "",
    )


def _address(channel: Channel, message: Message) -> str:
    """The address checked at `/notify`, or (a row written before it kept them) checked now."""
    return message.address or channel.address_of(message.recipient)


class Suppressed(Exception):
    """The address is suppressed on the channel: nothing is sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _suppressed(channel: Channel, reason: str | None) -> Suppressed:
    return Suppressed(f"the address is suppressed on {channel.name} ({reason})")


async def _check_suppression(context: ReceiptContext, channel: Channel, message: Message) -> None:
    try:
        address = _address(channel, message)
    except RecipientUnreachable:
        return  # the send reports it
    found = await suppression.active(channel.name, context.rules.address_hash(channel.name, address))
    if found is not None:
        raise _suppressed(channel, found.reason)


class DeliveryWorker(QueueWorker[Notification]):
    """One process's delivery loop, with at most `concurrency` sends in flight."""

    model = Notification
    waiting, leased = NotificationStatus.QUEUED, NotificationStatus.SENDING

    def __init__(
        self,
        *,
        channels: ChannelRegistry,
        session: aiohttp.ClientSession,
        policy: RetryPolicy,
        metrics: DeliveryMetrics,
        receipts: ReceiptContext,
        flow: FlowControl,
        quiet: QuietHours | None = None,
        on_called_back: Callable[[], None] | None = None,
        **options: Unpack[WorkerOptions],
    ) -> None:
        super().__init__(**options)
        self.quiet = quiet or QuietHours()
        self.on_called_back = on_called_back  # wakes this process's callback sender
        self.receipts = receipts
        self.channels = channels
        self.session = session
        self.policy = policy
        self.metrics = metrics
        self.flow = flow
        self._depth_measured_at = 0.0
        self.planner = PlannerStatistics(Notification._meta.db_table)
        self._flow_read_at = -math.inf
        self._probes: set[str] = set()
        self._slots: dict[str, datetime] = {}
        # Suppression looked up for each claim's rows in one query, beside the sends' start:
        # notification id -> that lookup (reasons by id; no entry: not suppressed). A row without
        # an entry is looked up before its send.
        self._suppression: dict[str, asyncio.Future[dict[str, str]]] = {}
        self._claimables: dict[int, tuple[Q | None, Callable[[datetime], Q]]] = {}
        self.recorder = AttemptRecorder(
            queue=self.queue,
            channels=channels,
            receipts=receipts,
            policy=policy,
            rng=lambda: self.rng,
            clock=self.clock,
        )

    async def before_claim(self) -> None:
        """Refresh the shared channel states (each poll at most) and the queue-depth gauge (once a
        second), and with that depth keep the planner's statistics of the queue in step with it."""
        if time.monotonic() - self._flow_read_at >= min(self.poll_seconds, FLOW_READ_EVERY_SECONDS):
            self._flow_read_at = time.monotonic()
            await self.read_flow()
        if time.monotonic() - self._depth_measured_at < QUEUE_DEPTH_EVERY_SECONDS:
            return
        self._depth_measured_at = time.monotonic()
        depth = await Notification.filter(
            status__in=[NotificationStatus.QUEUED, NotificationStatus.SENDING]
        ).count()
        self.metrics.queue_depth.set(depth)
        await self.planner.rows_seen(depth)

    async def read_flow(self) -> None:
        """Read the channels' shared states; send the waiting messages of a channel that is not
        closed, which have a fallback left, on to it."""
        now = self.clock()
        await self.flow.refresh(now)
        for channel in self.flow.reroutable():
            await self.flow.reroute(channel, self.queue, now)

    async def claim(self, limit: int, where: Q | None = None) -> list[Notification]:
        """Due rows (of the lane `where` selects) of channels that may send now; then a paced
        channel's rows, one per free slot; then a probe for each circuit whose cool-down is over,
        if this process wins it."""
        now = self.clock()

        def within_lane(condition: Q) -> Q:
            return condition if where is None else condition & where

        rows = await self.queue.claim(self.name, limit, self._claimable_within(where))
        for channel in self.flow.config.rates:
            room = min(limit - len(rows), self.flow.slots_free(channel, now))
            paced = await self.queue.claim(
                self.name, room, within_lane(self.flow.not_held(now) & Q(channel=channel))
            )
            if paced:
                slots = await self.flow.reserve(channel, len(paced), now)
                self._slots.update((row.pk, slot) for row, slot in zip(paced, slots, strict=True))
                rows += paced
        for channel in self.flow.probe_candidates(now):
            if len(rows) >= limit or not await self.flow.try_probe(channel, now):
                continue
            probe = await self.queue.claim(self.name, 1, within_lane(Q(channel=channel)))
            if not probe:
                await self.flow.no_probe_sent(channel, now, timedelta(seconds=self.poll_seconds))
                continue
            self._probes.add(probe[0].pk)
            if channel in self.flow.config.rates:  # a probe is a send like any other
                [self._slots[probe[0].pk]] = await self.flow.reserve(channel, 1, now)
            rows += probe
        if rows:
            lookup = asyncio.ensure_future(self._look_up_suppressions(rows))
            self._suppression.update((row.pk, lookup) for row in rows)
        return rows

    def _claimable_within(self, where: Q | None) -> Callable[[datetime], Q]:
        """The main claim's filter for a lane, as a function of the claim's time: one function per
        lane, so the queue builds the claim's statement once (`LeasedQueue.claim`)."""
        found = self._claimables.get(id(where))
        if found is None or found[0] is not where:

            def claimable(now: datetime) -> Q:
                condition = self.flow.claimable(now)
                return condition if where is None else condition & where

            found = self._claimables[id(where)] = (where, claimable)
        return found[1]

    async def _look_up_suppressions(self, rows: list[Notification]) -> dict[str, str]:
        """Which claimed rows' addresses are suppressed on their channel (reasons by notification
        id), in one query for all, run beside the loop rather than in its way.

        An address suppressed between this claim and the send still gets that one message, as
        one suppressed between a per-send lookup and the send would."""
        keys: dict[str, tuple[str, str]] = {}
        for row in rows:
            channel = self.channels.get(row.channel)
            if channel is None:
                continue
            try:
                address = _address(channel, _message(row))
            except RecipientUnreachable:
                continue  # the send reports it
            keys[row.pk] = (channel.name, self.receipts.rules.address_hash(channel.name, address))
        found = await suppression.active_among(keys.values())
        return {pk: found[key] or "" for pk, key in keys.items() if key in found}

    async def process(self, notification: Notification) -> None:
        probe = notification.pk in self._probes
        self._probes.discard(notification.pk)
        slot = self._slots.pop(notification.pk, None)
        if await self._kept_quiet(notification, probe=probe):
            self._suppression.pop(notification.pk, None)
            return
        if slot is not None:
            await asyncio.sleep(max(0.0, (slot - self.clock()).total_seconds()))
        held = None if probe else self.flow.held_until(notification.channel, self.clock())
        if held is not None:  # held since the claim: back to the queue, no attempt used
            self._suppression.pop(notification.pk, None)
            await self.queue.retry_later(notification, max(0.0, (held - self.clock()).total_seconds()))
            return
        await self.deliver(notification, probe=probe)

    async def _kept_quiet(self, notification: Notification, *, probe: bool) -> bool:
        """Within the quiet hours of its channel (a retry or a fallback hop can come due at any
        hour): back to the queue until they end, no attempt used. A probe kept back lets the
        circuit be probed again by another message."""
        now = self.clock()
        ends = self.quiet.ends_at(
            channel=notification.channel,
            timezone=notification.recipient.get("timezone"),
            critical=notification.critical,
            now=now,
        )
        if ends is None:
            return False
        await self.queue.retry_later(notification, (ends - now).total_seconds())
        if probe:
            await self.flow.no_probe_sent(notification.channel, now, timedelta(seconds=self.poll_seconds))
        return True

    async def deliver(self, notification: Notification, *, probe: bool = False) -> None:
        """One attempt through the notification's current channel, then record how it went."""
        lookup = self._suppression.pop(notification.pk, None)
        channel = self.channels.get(notification.channel)
        started_at = self.clock()
        started = time.perf_counter()
        provider_status: int | None = None
        retry_after: float | None = None
        error: str | None = None
        reference: str | None = None
        try:
            if channel is None:
                raise PermanentDeliveryError(f"channel {notification.channel!r} is not installed here")
            message = _message(notification)
            await self._check_suppression(notification, channel, message, lookup)
            async with asyncio.timeout(self.lease_seconds * 0.8):  # never outlive the lease
                receipt = await send(channel, message, self.session)
            outcome, provider_status = AttemptOutcome.SENT, receipt.provider_status
            reference = receipt.provider_reference
        except Suppressed as exc:
            outcome, error = AttemptOutcome.SUPPRESSED, exc.reason
        except RetryableDeliveryError as exc:
            outcome, provider_status, retry_after, error = (
                AttemptOutcome.RETRYABLE,
                exc.provider_status,
                exc.retry_after,
                exc.reason,
            )
        except PermanentDeliveryError as exc:
            outcome, provider_status, error = AttemptOutcome.PERMANENT, exc.provider_status, exc.reason
        except TimeoutError:
            outcome, error = AttemptOutcome.RETRYABLE, "delivery took longer than its lease allows"
        except Exception as exc:
            log.exception("channel %s raised", notification.channel)
            outcome, error = AttemptOutcome.RETRYABLE, f"channel error ({type(exc).__name__})"
        duration = time.perf_counter() - started
        self.metrics.attempts.labels(notification.channel, outcome).inc()
        self.metrics.provider_seconds.labels(notification.channel).observe(duration)
        learned = await self._learn(notification.channel, outcome, provider_status, retry_after, probe=probe)
        # The send is over and flow control knows of any pause it asked for (a slot handed on sooner
        # could send again before the pause is written): the slot goes to the next row while this
        # one is recorded.
        self.give_back_slot()
        counted = self.policy.counts(learned, notification.attempt_count)
        await self._record_while_leased(
            notification,
            Attempt(
                outcome=outcome,
                counted=counted,
                provider_status=provider_status,
                retry_after=retry_after,
                error=error,
                started_at=started_at,
                duration=duration,
                reference=reference,
            ),
        )

    async def _check_suppression(
        self,
        notification: Notification,
        channel: Channel,
        message: Message,
        lookup: asyncio.Future[dict[str, str]] | None,
    ) -> None:
        """Raise Suppressed if the address is suppressed: by the claim's lookup, else (none, or it
        failed) by a lookup of its own."""
        found = None
        if lookup is not None:
            with contextlib.suppress(Exception):  # if it failed, this address is looked up alone
                found = await lookup
        if found is None:
            await _check_suppression(self.receipts, channel, message)
        elif notification.pk in found:
            raise _suppressed(channel, found[notification.pk] or None)

    async def _learn(
        self,
        channel: str,
        outcome: AttemptOutcome,
        status: int | None,
        retry_after: float | None,
        *,
        probe: bool,
    ) -> bool:
        """Tell flow control how the attempt went; whether it used up an attempt. Flow control is
        optional to delivery: if its state cannot be written, the attempt simply counts."""
        try:
            return await self.flow.after_attempt(
                channel,
                outcome=outcome,
                provider_status=status,
                retry_after=retry_after,
                probe=probe,
                now=self.clock(),
            )
        except Exception as exc:
            log.warning(
                "cannot update the channel's flow state",
                extra={"channel": channel, "error": type(exc).__name__},
            )
            return True

    async def _record_while_leased(self, notification: Notification, attempt: Attempt) -> None:
        """Record the attempt with the others that end meanwhile (`recording`); if that batch cannot
        be written, record it on its own, retrying a database failure while the lease lasts.

        Giving up would let the lease run out and the message be sent again
        although this process knows how the attempt ended.
        """
        written, recorded = await self.recorder.record(notification, attempt)
        if not written:
            recorded = await self._record_alone(notification, attempt)
        if recorded is not None:
            self._recorded(notification, attempt, recorded)

    async def _record_alone(self, notification: Notification, attempt: Attempt) -> Recorded | None:
        for pause in RECORD_RETRY_PAUSES:
            try:
                return await self.recorder.record_alone(notification, attempt)
            except Exception as exc:
                lease_left = (notification.lease_expires_at - self.clock()).total_seconds()
                if not is_database_unavailable(exc) or lease_left < pause + 1:
                    raise
                log.warning("cannot record an attempt yet; retrying", extra={"notification": notification.id})
                await asyncio.sleep(pause)
        return await self.recorder.record_alone(notification, attempt)

    def _recorded(self, notification: Notification, attempt: Attempt, recorded: Recorded) -> None:
        """Once committed: wake for work queued again at once, and the callback sender for a callback
        owed, then log and count."""
        following = recorded.following
        if recorded.requeued:
            self.wake()
        if recorded.called_back and self.on_called_back is not None:
            self.on_called_back()
        log.info(
            "attempt %s of %s: %s",
            recorded.number,
            notification.id,
            attempt.outcome,
            extra={"channel": notification.channel, "status": following.status, "error": attempt.error},
        )
        if following.leaves_queue:
            self.metrics.notifications.labels(notification.channel, following.status).inc()
            if following.status is NotificationStatus.SENT:
                self.metrics.delivery_seconds.labels(notification.channel).observe(
                    (recorded.now - notification.created_at).total_seconds()
                )
