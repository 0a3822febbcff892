"""Delivery workers: claim due notifications under a lease, send each through its channel, record it.

Several processes can share one PostgreSQL queue: claiming uses
`SELECT ... FOR UPDATE SKIP LOCKED` and every later write is conditional on
still holding the lease, so no two workers deliver the same notification at
once. A worker that dies simply lets its leases run out; another (or the
restarted process) picks the work up. On SQLite one process delivers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from apikit.database import is_database_unavailable
from notification_gateway.channels import (
    Message,
    PermanentDeliveryError,
    Recipient,
    RetryableDeliveryError,
)
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.models import DeliveryAttempt, Notification
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.policy import RetryPolicy, next_state
from notification_gateway.status import AttemptOutcome, NotificationStatus

log = logging.getLogger("notification_gateway.delivery")

Clock = Callable[[], datetime]
QUEUE_DEPTH_EVERY_SECONDS = 1.0
ERROR_PAUSE_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def _message(notification: Notification) -> Message:
    recipient = notification.recipient
    return Message(
        notification_id=notification.id,
        recipient=Recipient(notification.recipient_id, recipient["name"], recipient.get("contacts", {})),
        text=notification.message,
        title=notification.title,
        attributes=notification.attributes or {},
    )


class DeliveryWorker:
    """One process's delivery loop, with at most `concurrency` sends in flight."""

    def __init__(
        self,
        *,
        channels: ChannelRegistry,
        session: aiohttp.ClientSession,
        policy: RetryPolicy,
        metrics: DeliveryMetrics,
        concurrency: int,
        lease_seconds: float,
        poll_seconds: float,
        clock: Clock = utc_now,
        rng: random.Random | None = None,
    ) -> None:
        self.channels = channels
        self.session = session
        self.policy = policy
        self.metrics = metrics
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._in_flight: set[asyncio.Task] = set()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._depth_measured_at = 0.0

    def wake(self) -> None:
        """New work may be due: look now instead of at the next poll."""
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._measure_queue_depth()
                free = self.concurrency - len(self._in_flight)
                claimed = await self.claim(free) if free > 0 else []
            except Exception as exc:
                self._log_loop_error(exc)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            for notification in claimed:
                task = asyncio.create_task(self.deliver(notification), name=f"deliver {notification.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if not claimed:
                await self._idle()

    def _finished(self, task: asyncio.Task) -> None:
        self._in_flight.discard(task)
        self._wakeup.set()  # a slot is free
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log_loop_error(exc)

    def _log_loop_error(self, exc: BaseException) -> None:
        if is_database_unavailable(exc):
            log.warning("database unavailable; delivery pauses", extra={"error": type(exc).__name__})
        else:
            log.error("delivery loop error", exc_info=exc)

    async def _idle(self) -> None:
        self._wakeup.clear()
        try:
            async with asyncio.timeout(self.poll_seconds):
                await self._wakeup.wait()
        except TimeoutError:
            pass

    async def _measure_queue_depth(self) -> None:
        if time.monotonic() - self._depth_measured_at < QUEUE_DEPTH_EVERY_SECONDS:
            return
        self._depth_measured_at = time.monotonic()
        depth = await Notification.filter(
            status__in=[NotificationStatus.QUEUED, NotificationStatus.SENDING]
        ).count()
        self.metrics.queue_depth.set(depth)

    async def claim(self, limit: int) -> list[Notification]:
        """Lease up to `limit` due notifications to this worker."""
        now = self.clock()
        claim = f"{self.name}:{uuid.uuid4().hex[:8]}"
        free_lease = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        async with in_transaction() as connection:
            ids = (
                await Notification.filter(
                    free_lease,
                    status__in=[NotificationStatus.QUEUED, NotificationStatus.SENDING],
                    next_attempt_at__lte=now,
                )
                .order_by("next_attempt_at")
                .limit(limit)
                .select_for_update(skip_locked=True)
                .using_db(connection)
                .values_list("id", flat=True)
            )
            if not ids:
                return []
            # Conditional, so a claim stays exclusive even where SKIP LOCKED is unavailable.
            await (
                Notification.filter(free_lease, id__in=ids)
                .using_db(connection)
                .update(
                    status=NotificationStatus.SENDING,
                    lease_owner=claim,
                    lease_expires_at=now + timedelta(seconds=self.lease_seconds),
                )
            )
        return await Notification.filter(lease_owner=claim)

    async def deliver(self, notification: Notification) -> None:
        """One attempt through the notification's current channel, then record how it went."""
        channel = self.channels.get(notification.channel)
        started_at = self.clock()
        started = time.perf_counter()
        provider_status: int | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            if channel is None:
                raise PermanentDeliveryError(f"channel {notification.channel!r} is not installed here")
            async with asyncio.timeout(self.lease_seconds * 0.8):  # never outlive the lease
                receipt = await channel.send(_message(notification), self.session)
            outcome, provider_status = AttemptOutcome.DELIVERED, receipt.provider_status
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
        await self._record(
            notification,
            outcome=outcome,
            provider_status=provider_status,
            retry_after=retry_after,
            error=error,
            started_at=started_at,
            duration=duration,
        )

    async def _record(
        self,
        notification: Notification,
        *,
        outcome: AttemptOutcome,
        provider_status: int | None,
        retry_after: float | None,
        error: str | None,
        started_at: datetime,
        duration: float,
    ) -> None:
        now = self.clock()
        following = next_state(
            outcome=outcome,
            attempts_on_channel=notification.attempts_on_channel,
            fallback_channels=notification.fallback_channels,
            retry_after=retry_after,
            policy=self.policy,
            now=now,
            rng=self.rng,
        )
        number = notification.attempt_count + 1
        async with in_transaction() as connection:
            kept_lease = (
                await Notification.filter(id=notification.id, lease_owner=notification.lease_owner)
                .using_db(connection)
                .update(**following.updates, attempt_count=number, updated_at=now)
            )
            if not kept_lease:
                log.warning("lease lost before recording an attempt", extra={"notification": notification.id})
                return
            await DeliveryAttempt.create(
                using_db=connection,
                notification_id=notification.id,
                number=number,
                channel=notification.channel,
                outcome=outcome,
                provider_status=provider_status,
                error=error[:500] if error else None,
                retry_after_seconds=retry_after,
                started_at=started_at,
                duration_ms=round(duration * 1000, 2),
            )
        log.info(
            "attempt %s of %s: %s",
            number,
            notification.id,
            outcome,
            extra={"channel": notification.channel, "status": following.status, "error": error},
        )
        if following.is_final:
            self.metrics.notifications.labels(notification.channel, following.status).inc()
            if following.status is NotificationStatus.DELIVERED:
                self.metrics.delivery_seconds.labels(notification.channel).observe(
                    (now - notification.created_at).total_seconds()
                )

    async def stop(self, runner: asyncio.Task, grace_seconds: float) -> None:
        """Stop claiming, give in-flight sends `grace_seconds`, then hand back what is left."""
        self._stopping = True
        self._wakeup.set()
        await runner
        if self._in_flight:
            _done, pending = await asyncio.wait(set(self._in_flight), timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        released = await Notification.filter(
            lease_owner__startswith=f"{self.name}:", status=NotificationStatus.SENDING
        ).update(status=NotificationStatus.QUEUED, lease_owner=None, lease_expires_at=None)
        if released:
            log.info("handed back unfinished deliveries", extra={"released": released})
