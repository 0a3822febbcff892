"""Recording delivery attempts: many per transaction, in a fixed number of statements.

An attempt's record is the notification's new state (lease released, only if
still held), the attempt row, the event for a change of status, the callback
that event owes, the confirmation timer of a send, and receipts that came
before the send was recorded. Attempts that end while the batches being
written wait on the database form the next, so under load one transaction records many of them and
at low load an attempt waits for none. On PostgreSQL a batch is one statement
(`_RECORD_ALL`: the UPDATE of every notification from `unnest` of the values,
the INSERTs of its attempts and numbered events, the receipts' advisory locks),
then one lookup of early receipts for sends on channels that take receipts, and
an INSERT each for callbacks and timers when there are any: at most four round
trips with BEGIN and COMMIT, however many attempts it holds. A batch that needs
none of these is `_RECORD_ALL` alone, atomic by itself, sent without BEGIN and
COMMIT: one round trip.

A notification stays leased until the batch holding its record commits. A
process that dies first loses the record of at most the attempts in flight
(each of which had sent its message or was sending it); their leases run out
and the messages go again, exactly as for a crash during the sends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.database import transaction
from apikit.queue import LeasedQueue
from apikit.tracing import current_traceparent
from notification_gateway.callbacks import callback_for
from notification_gateway.confirmation import timer_for
from notification_gateway.events import MAX_REASON_CHARS, counted_event, new_event
from notification_gateway.models import (
    Callback,
    ConfirmationTimer,
    DeliveryAttempt,
    Notification,
    NotificationEvent,
)
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.policy import Next, RetryPolicy, next_state
from notification_gateway.receipts import (
    ReceiptContext,
    RecordedSend,
    apply_early_receipts,
    reads,
    receipt_locks,
)
from notification_gateway.status import AttemptOutcome, EventSource, NotificationStatus

log = logging.getLogger("notification_gateway.delivery")

#: At most this many attempts per transaction (a worker has at most its concurrency in flight).
BATCH_MAX = 200
#: Batches written at once, each on its own connection: an attempt that ends while they are all
#: busy waits for the next free one. More than one, because a batch spends most of its time waiting
#: for round trips to the database, not working.
WRITERS_MAX = 2

# A batch's record on PostgreSQL, in one statement: every notification's new state (a row whose
# lease is no longer the batch's claim is left alone and not returned; NULL keeps a column as it
# is), the attempt rows and the events of the rows it changed, each event numbered by the UPDATE,
# and the advisory locks that serialise the recorded sends with their receipts (`receipts`), taken
# in a fixed order. Returns each changed notification's event count.
_RECORD_ALL = """
WITH v AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::timestamptz[],
        $7::timestamptz[], $8::timestamptz[], $9::text[], $10::text[], $11::int[]
    ) AS v(id, lease_owner, status, attempt_count, attempts_on_channel, updated_at,
           next_attempt_at, finished_at, channel, fallback_channels, events)
), locked AS (
    SELECT count(pg_advisory_xact_lock(hashtext(name))) AS n
    FROM (SELECT unnest($12::text[]) AS name ORDER BY 1) AS names
), updated AS (
    UPDATE "notifications" AS n SET
        "status" = v.status,
        "attempt_count" = v.attempt_count,
        "attempts_on_channel" = v.attempts_on_channel,
        "updated_at" = v.updated_at,
        "next_attempt_at" = COALESCE(v.next_attempt_at, n."next_attempt_at"),
        "finished_at" = COALESCE(v.finished_at, n."finished_at"),
        "channel" = COALESCE(v.channel, n."channel"),
        "fallback_channels" = COALESCE(v.fallback_channels::jsonb, n."fallback_channels"),
        "event_count" = n."event_count" + v.events,
        "lease_owner" = NULL,
        "lease_expires_at" = NULL
    FROM v
    WHERE n."id" = v.id AND n."lease_owner" = v.lease_owner
    RETURNING n."id", n."event_count"
), attempts AS (
    INSERT INTO "delivery_attempts" (
        "notification_id", "number", "channel", "outcome", "provider_status", "error",
        "retry_after_seconds", "provider_reference", "counted", "started_at", "duration_ms"
    )
    SELECT a.notification_id, a.number, a.channel, a.outcome, a.provider_status, a.error,
           a.retry_after_seconds, a.provider_reference, a.counted, a.started_at, a.duration_ms
    FROM unnest(
        $13::text[], $14::int[], $15::text[], $16::text[], $17::int[], $18::text[],
        $19::float8[], $20::text[], $21::bool[], $22::timestamptz[], $23::float8[]
    ) AS a(notification_id, number, channel, outcome, provider_status, error,
           retry_after_seconds, provider_reference, counted, started_at, duration_ms)
    JOIN updated AS u ON u."id" = a.notification_id
), events AS (
    INSERT INTO "notification_events" (
        "notification_id", "sequence", "status", "channel", "source", "reason", "occurred_at"
    )
    SELECT e.notification_id, u."event_count", e.status, e.channel, e.source, e.reason, e.occurred_at
    FROM unnest($24::text[], $25::text[], $26::text[], $27::text[], $28::text[], $29::timestamptz[])
        AS e(notification_id, status, channel, source, reason, occurred_at)
    JOIN updated AS u ON u."id" = e.notification_id
)
SELECT u."id", u."event_count" FROM updated AS u CROSS JOIN locked
"""


@dataclass(frozen=True)
class Attempt:
    """How one attempt through a channel ended."""

    outcome: AttemptOutcome
    counted: bool
    provider_status: int | None
    retry_after: float | None
    error: str | None
    started_at: datetime
    duration: float
    reference: str | None


@dataclass(frozen=True)
class Change:
    """The event an attempt's record writes: the new status, on which channel, why."""

    status: NotificationStatus
    channel: str
    reason: str | None
    kind: str | None = None


@dataclass(frozen=True)
class Recorded:
    """What recording one attempt wrote."""

    following: Next
    number: int
    now: datetime
    requeued: bool
    called_back: bool = False  # a status callback is owed for it


@dataclass
class _Item:
    notification: Notification
    attempt: Attempt
    traceparent: str | None
    done: asyncio.Future[tuple[bool, Recorded | None]] | None = None
    following: Next | None = None
    change: Change | None = None


def change_of(notification: Notification, following: Next, attempt: Attempt) -> Change | None:
    """The event for a change of status: a send, a move to another channel, or an end."""
    channel, error = notification.channel, attempt.error
    if following.status is NotificationStatus.SENT:
        return Change(NotificationStatus.SENT, channel, None)
    moved_to = following.updates.get("channel")
    if moved_to is not None and moved_to != channel:
        reason = (
            f"{error}: trying {moved_to}"
            if attempt.outcome is AttemptOutcome.SUPPRESSED
            else f"{channel} failed ({error or 'no reason given'}): trying {moved_to}"
        )
        return Change(NotificationStatus.QUEUED, moved_to, reason, kind="fallback")
    if following.is_final:
        return Change(following.status, channel, error)
    return None


class AttemptRecorder:
    """Records one delivery worker's attempts, batching those that end together."""

    def __init__(
        self,
        *,
        queue: LeasedQueue[Notification],
        channels: ChannelRegistry,
        receipts: ReceiptContext,
        policy: RetryPolicy,
        rng: Callable[[], random.Random],
        clock: Callable[[], datetime],
    ) -> None:
        """`rng` gives the worker's jitter source at each use, so a worker that swaps it is heard."""
        self.queue = queue
        self.channels = channels
        self.receipts = receipts
        self.policy = policy
        self.rng = rng
        self.clock = clock
        self._waiting: list[_Item] = []
        self._writers: set[asyncio.Task] = set()

    async def record(self, notification: Notification, attempt: Attempt) -> tuple[bool, Recorded | None]:
        """Record with the next batch: (True, what was written, None if the lease was lost) once it
        committed; (False, None) if the batch failed, and nothing of it was written."""
        item = _Item(notification, attempt, current_traceparent())
        item.done = asyncio.get_running_loop().create_future()
        self._waiting.append(item)
        if len(self._writers) < WRITERS_MAX:
            writer = asyncio.create_task(self._write_batches(), name="record attempts")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await item.done

    async def record_alone(self, notification: Notification, attempt: Attempt) -> Recorded | None:
        """Record on its own, in no batch; None if the lease was lost. Raises what the database raised."""
        [result] = await self._write(items=[_Item(notification, attempt, current_traceparent())])
        return result

    async def _write_batches(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:BATCH_MAX], self._waiting[BATCH_MAX:]
            try:
                results = await self._write(batch)
            except Exception as exc:
                log.warning(
                    "cannot record a batch of attempts; recording each on its own",
                    extra={"attempts": len(batch), "error": type(exc).__name__},
                )
                outcomes = [(False, None)] * len(batch)
            else:
                outcomes = [(True, result) for result in results]
            for item, outcome in zip(batch, outcomes, strict=True):
                if item.done is not None and not item.done.done():
                    item.done.set_result(outcome)

    async def _write(self, items: list[_Item]) -> list[Recorded | None]:
        """Record `items` in one transaction: the statement alone where it is all the record."""
        now = self.clock()
        for item in items:
            notification = item.notification
            item.following = next_state(
                outcome=item.attempt.outcome,
                counted=item.attempt.counted,
                attempts_on_channel=notification.attempts_on_channel,
                fallback_channels=notification.fallback_channels,
                retry_after=item.attempt.retry_after,
                policy=self.policy,
                now=now,
                rng=self.rng(),
            )
            item.change = change_of(notification, item.following, item.attempt)
        sends = [  # those a receipt may name: on a channel that takes receipts
            RecordedSend(item.notification.id, item.notification.channel, item.attempt.reference)
            for item in items
            if item.change is not None
            and item.change.status is NotificationStatus.SENT
            and item.attempt.reference is not None
            and reads(self.channels.get(item.notification.channel), "parse_receipt")
        ]
        database = Notification._meta.db
        if database.capabilities.dialect == "postgres" and not sends and not any(map(self._owes, items)):
            sequences = await self._record_all(items, sends, now, database)
            return self._results(items, sequences, now, hopped=set(), owed=set())
        async with transaction() as connection:
            return await self._write_in(connection, items, sends, now)

    def _owes(self, item: _Item) -> bool:
        """Whether the item's record may add a callback or a confirmation timer."""
        return item.change is not None and (bool(item.notification.callback_url) or self._timed(item))

    def _timed(self, item: _Item) -> bool:
        """A send that waits for its `delivered` receipt before the next fallback is tried."""
        notification, change = item.notification, item.change
        return (
            change is not None
            and change.status is NotificationStatus.SENT
            and bool(notification.fallback_channels)
            and bool(notification.confirm_within_seconds)
            and reads(self.channels.get(notification.channel), "parse_receipt")
        )

    async def _write_in(
        self, connection: BaseDBAsyncClient, items: list[_Item], sends: list[RecordedSend], now: datetime
    ) -> list[Recorded | None]:
        """The whole record in `connection`'s transaction: states, attempts and events, then the
        callbacks and timers they owe, then receipts that came before their sends."""
        if connection.capabilities.dialect == "postgres":
            sequences = await self._record_all(items, sends, now, connection)
        else:
            sequences = await self._record_each(items, now, connection)
        callbacks: list[Callback] = []
        timers: list[ConfirmationTimer] = []
        for item in items:
            notification, change = item.notification, item.change
            if notification.id not in sequences or change is None:
                continue  # lease lost (`_results` says so), or no event
            if notification.callback_url:
                event = self._event(item, now, sequences[notification.id])
                kind = change.kind or str(change.status)
                if (
                    callback := callback_for(notification, event, kind=kind, traceparent=item.traceparent)
                ) is not None:
                    callbacks.append(callback)
            if self._timed(item):
                timers.append(timer_for(notification, channel=notification.channel, now=now))
        for model, rows in ((Callback, callbacks), (ConfirmationTimer, timers)):
            if rows:
                await model.bulk_create(rows, using_db=connection)
        recorded_sends = [send for send in sends if send.notification_id in sequences]
        hopped = await apply_early_receipts(self.receipts, recorded_sends, connection, locked=True)
        owed = {callback.notification_id for callback in callbacks}
        return self._results(items, sequences, now, hopped=hopped, owed=owed)

    @staticmethod
    def _results(
        items: list[_Item], sequences: dict[str, int], now: datetime, *, hopped: set[str], owed: set[str]
    ) -> list[Recorded | None]:
        """What each item's record wrote, in order (None where the lease was lost)."""
        for lost in (item.notification.id for item in items if item.notification.id not in sequences):
            log.warning("lease lost before recording an attempt", extra={"notification": lost})
        return [
            Recorded(
                item.following,
                item.notification.attempt_count + 1,
                now,
                requeued=item.notification.id in hopped,
                called_back=item.notification.id in owed,
            )
            if item.notification.id in sequences
            else None
            for item in items
        ]

    @staticmethod
    def _event(item: _Item, now: datetime, sequence: int) -> NotificationEvent:
        change = item.change
        assert change is not None
        return new_event(
            item.notification,
            change.status,
            channel=change.channel,
            source=EventSource.WORKER,
            now=now,
            sequence=sequence,
            reason=change.reason,
        )

    @staticmethod
    def _attempt_row(item: _Item) -> DeliveryAttempt:
        notification, attempt = item.notification, item.attempt
        return DeliveryAttempt(
            notification_id=notification.id,
            number=notification.attempt_count + 1,
            channel=notification.channel,
            outcome=attempt.outcome,
            provider_status=attempt.provider_status,
            error=attempt.error[:500] if attempt.error else None,
            retry_after_seconds=attempt.retry_after,
            provider_reference=attempt.reference,
            counted=attempt.counted,
            started_at=attempt.started_at,
            duration_ms=round(attempt.duration * 1000, 2),
        )

    async def _record_each(
        self, items: list[_Item], now: datetime, connection: BaseDBAsyncClient
    ) -> dict[str, int]:
        """SQLite (one writer, no round trips): each notification's new state, then the attempt rows
        and events of those still leased. Event counts by notification id."""
        sequences = {}
        for item in items:
            kept = await self._release(item, now, connection)
            if kept is not None:
                sequences[item.notification.id] = kept
        kept_items = [item for item in items if item.notification.id in sequences]
        attempts = [self._attempt_row(item) for item in kept_items]
        events = [
            self._event(item, now, sequences[item.notification.id])
            for item in kept_items
            if item.change is not None
        ]
        for model, rows in ((DeliveryAttempt, attempts), (NotificationEvent, events)):
            if rows:
                await model.bulk_create(rows, using_db=connection)
        return sequences

    def _row_values(self, item: _Item, now: datetime) -> dict[str, Any]:
        following = item.following
        assert following is not None
        values = {
            **following.updates,
            "attempt_count": item.notification.attempt_count + 1,
            "updated_at": now,
            "status": following.status if following.leaves_queue else self.queue.waiting,
        }
        if not following.leaves_queue:
            values["next_attempt_at"] = now + timedelta(seconds=following.wait_seconds or 0)
        return values

    async def _release(self, item: _Item, now: datetime, connection: BaseDBAsyncClient) -> int | None:
        """One notification's new state, if its lease is still held: its event count, else None."""
        values = self._row_values(item, now)
        if item.change is not None:
            values |= counted_event()
        kept = await self.queue.finish_returning(item.notification, connection, '"event_count"', **values)
        return None if kept is None else kept["event_count"]

    async def _record_all(
        self, items: list[_Item], sends: list[RecordedSend], now: datetime, connection: BaseDBAsyncClient
    ) -> dict[str, int]:
        """`_RECORD_ALL` (PostgreSQL): every item's new state, attempt and event, the sends' receipt
        locks taken. Event counts by the notification ids still leased."""
        columns: list[list[Any]] = [[] for _ in range(29)]
        notifications, attempts, events = columns[:11], columns[12:23], columns[23:]
        for item in items:
            notification, attempt, change = item.notification, item.attempt, item.change
            values = self._row_values(item, now)
            fallbacks = values.get("fallback_channels")
            row = (
                notification.id,
                notification.lease_owner,
                str(values["status"]),
                values["attempt_count"],
                values["attempts_on_channel"],
                now,
                values.get("next_attempt_at"),
                values.get("finished_at"),
                values.get("channel"),
                None if fallbacks is None else json.dumps(list(fallbacks)),
                1 if change is not None else 0,
            )
            for column, value in zip(notifications, row, strict=True):
                column.append(value)
            row = (
                notification.id,
                notification.attempt_count + 1,
                notification.channel,
                str(attempt.outcome),
                attempt.provider_status,
                attempt.error[:500] if attempt.error else None,
                attempt.retry_after,
                attempt.reference,
                attempt.counted,
                attempt.started_at,
                round(attempt.duration * 1000, 2),
            )
            for column, value in zip(attempts, row, strict=True):
                column.append(value)
            if change is not None:
                reason = change.reason[:MAX_REASON_CHARS] if change.reason else None
                source = str(EventSource.WORKER)
                row = (notification.id, str(change.status), change.channel, source, reason, now)
                for column, value in zip(events, row, strict=True):
                    column.append(value)
        columns[11] = receipt_locks([(send.channel, send.reference) for send in sends])
        rows = await connection.execute_query_dict(_RECORD_ALL, columns)
        return {row["id"]: row["event_count"] for row in rows}
