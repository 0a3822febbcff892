"""Durable work queues in a database table, worked by any number of processes.

A queue table is a `LeasedRow` model with its own `status`, of which two
matter here: `waiting` (for its `next_attempt_at`) and `leased` (being worked
on). A row is due when it is waiting or leased, its `next_attempt_at` has come,
and nobody holds a live lease on it. Claiming sets `lease_owner` and
`lease_expires_at`; on PostgreSQL it uses `SELECT ... FOR UPDATE SKIP LOCKED`,
so concurrent claimers never wait for or take each other's rows. The claim is
also conditional on the lease still being free, which keeps it exclusive where
SKIP LOCKED does not exist (SQLite serialises writers instead). A worker that
dies just lets its leases run out. Every write after a claim goes through
`LeasedQueue.finish` or `LeasedQueue.retry_later`, which change the row only
while the lease is still the writer's and release it in the same statement, so
a worker that lost its lease changes nothing.

A worker may split its table into `Lane`s, each claimed by a loop of its own: a
lane may use only its share of the worker's concurrency, and an earlier lane's
claim never waits behind a later lane's claim or housekeeping, so a backlog in a
later lane never delays due work in an earlier one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import socket
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, ClassVar, Generic, NotRequired, TypedDict, TypeVar, Unpack

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.models import Model

from apikit.database import is_database_unavailable, transaction
from apikit.fields import DatetimeField
from apikit.returning import update_returning
from apikit.tracing import continued_span
from apikit.updates import Update
from apikit.urgency import urgent

Clock = Callable[[], datetime]
ERROR_PAUSE_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


class LeasedRow(Model):
    """The columns every queue table shares: when the row is next due, and who holds it until when.

    Each table adds its own `status` (its own enum) and an index on (status, next_attempt_at).
    """

    next_attempt_at = DatetimeField()
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_expires_at = DatetimeField(null=True)

    class Meta:
        abstract = True


RowT = TypeVar("RowT", bound=LeasedRow)
RELEASED = {"lease_owner": None, "lease_expires_at": None}
#: A claim's filter: rows `where` admits, or a function of the claim's time giving it.
Where = Q | Callable[[datetime], Q] | None
# Stand-ins for a claim's time and limit: the claim statement is built once with them, and the
# places they land in become the statement's parameters.
_AT = datetime(1970, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
_LIMIT = 2_147_483_629
# Text that may stand in SQL as a literal as it is (statuses, lanes, channel names).
_PLAIN_TEXT = re.compile(r"[\w.:-]*")


def _literal(value: Any) -> str | None:
    """`value` as an SQL literal if it is plain text (nothing to escape), else None."""
    text = value.value if isinstance(value, Enum) else value
    return f"'{text}'" if isinstance(text, str) and _PLAIN_TEXT.fullmatch(text) else None


@dataclass
class LeasedQueue(Generic[RowT]):
    """How to find, lease, write back and hand back the due rows of one table."""

    model: type[RowT]
    waiting: Any
    leased: Any
    lease_seconds: float
    clock: Clock = utc_now
    _statements: dict[Callable[[datetime], Q] | None, tuple[str, list[Any]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _update: Update = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._update = Update(self.model)

    def due(self, now: datetime) -> Q:
        """Due, and nobody holds a live lease on it."""
        free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        statuses = list(dict.fromkeys((self.waiting, self.leased)))  # in this order: partial indexes match it
        return free & Q(status__in=statuses, next_attempt_at__lte=now)

    def due_rows(self, now: datetime, limit: int, connection: BaseDBAsyncClient, where: Q | None = None):
        """The SELECT that claims: `FOR UPDATE SKIP LOCKED` on PostgreSQL (`only`, unlike
        `values_list`, keeps the lock clause; a test checks the SQL). `where` narrows it further."""
        return (
            self.model.filter(self.due(now) & where if where is not None else self.due(now))
            .order_by("next_attempt_at")
            .limit(limit)
            .select_for_update(skip_locked=True)
            .using_db(connection)
            .only("id")
        )

    async def claim(self, owner: str, limit: int, where: Where = None) -> list[RowT]:
        """Lease up to `limit` due rows to `owner` (one claim id per call), of those `where` admits
        (every due row if None), and return them. A `where` given as a function of the claim's time
        (the same function at every claim) has its statement built once, on PostgreSQL."""
        if limit <= 0:
            return []
        now = self.clock()
        claim = f"{owner}:{uuid.uuid4().hex[:8]}"
        leased = {
            "status": self.leased,
            "lease_owner": claim,
            "lease_expires_at": now + timedelta(seconds=self.lease_seconds),
        }
        connection = self.model._meta.db
        if connection.capabilities.dialect == "postgres":
            return await self._claim_in_one_statement(now, limit, where, leased, connection)
        if callable(where):
            where = where(now)
        async with transaction() as connection:
            ids = [row.pk for row in await self.due_rows(now, limit, connection, where)]
            if not ids:
                return []
            # Still due: where SKIP LOCKED does not exist, another claimer may have taken and
            # even finished a row since the SELECT.
            await self.model.filter(self.due(now), id__in=ids).using_db(connection).update(**leased)
        return await self.model.filter(id__in=ids, lease_owner=claim).order_by("next_attempt_at")  # by key

    async def _claim_in_one_statement(
        self,
        now: datetime,
        limit: int,
        where: Where,
        leased: dict[str, Any],
        connection: BaseDBAsyncClient,
    ) -> list[RowT]:
        """PostgreSQL: `UPDATE ... WHERE id = ANY(ARRAY(SELECT ... FOR UPDATE SKIP LOCKED LIMIT n))
        RETURNING *`, one statement and one round trip instead of a transaction of four. The inner
        SELECT locks the rows it picks (re-checked against its WHERE if another claimer just changed
        them), so the UPDATE leases only rows that are still due and free."""
        sql, constants = self._claim_statement(where, connection)
        values = [leased["lease_owner"], leased["lease_expires_at"], now, limit, *constants]
        rows = await connection.execute_query_dict(sql, values)
        claimed = [self.model._init_from_db(**row) for row in rows]
        return sorted(claimed, key=lambda row: row.next_attempt_at)

    def _claim_statement(self, where: Where, connection: BaseDBAsyncClient) -> tuple[str, list[Any]]:
        """The claim's SQL, whose parameters are the lease's owner and expiry, the claim's time and
        limit ($1 to $4), then any other values `where` holds; and those other values. The claim of
        every due row (`where` None) and one narrowed by a function of the claim's time are built
        once and kept: building the statement anew cost more than the claim's round trip.

        Statuses, lanes and other plain text stand in the SQL as literals, not parameters. The
        server keeps one generic plan for a statement it runs often, and a generic plan cannot use
        a partial index whose condition (`status IN ('queued', 'sending')`) rests on parameters: it
        read and sorted every queued row at each claim, 20 ms behind 15,000 queued rows."""
        kept = where is None or callable(where)
        if kept and (built := self._statements.get(where)) is not None:
            return built
        condition = where(_AT) if callable(where) else where
        select = self.due_rows(_AT, _LIMIT, connection, condition)
        select._make_query()
        select_sql, values = select.query.get_parameterized_sql()
        constants: list[Any] = []

        def parameter(match: re.Match[str]) -> str:
            value = values[int(match.group(1)) - 1]
            if isinstance(value, datetime) and value == _AT:
                return "$3"
            if isinstance(value, int) and not isinstance(value, bool) and value == _LIMIT:
                return "$4"
            if isinstance(value, datetime) and callable(where):
                raise ValueError("a claim's `where` may hold the claim's time, not a time made from it")
            if (literal := _literal(value)) is not None:
                return literal
            constants.append(value)
            return f"${4 + len(constants)}"

        select_sql = re.sub(r"\$(\d+)", parameter, select_sql)
        table, key, leased = self.model._meta.db_table, self.model._meta.db_pk_column, _literal(self.leased)
        assert leased is not None, "a leased status is plain text"
        # Only plain text (`_literal`) and the model's own table and key names are written into the SQL.
        lease = f'"status" = {leased}, "lease_owner" = $1, "lease_expires_at" = $2'
        sql = f'UPDATE "{table}" SET {lease} WHERE "{key}" = ANY(ARRAY({select_sql})) RETURNING *'  # noqa: S608
        built = (sql, constants)
        if kept:
            self._statements[where] = built
        return built

    def _mine(self, row: RowT, connection: BaseDBAsyncClient | None):
        return self.model.filter(pk=row.pk, lease_owner=row.lease_owner).using_db(connection)

    async def finish(self, row: RowT, connection: BaseDBAsyncClient | None = None, **updates: Any) -> bool:
        """Write `updates` and release the lease, only if `row`'s lease is still held: False (and
        nothing written) if it ran out and another worker may have the row now."""
        mine = {self.model._meta.pk_attr: row.pk, "lease_owner": row.lease_owner}
        return bool(await self._update.run(connection, mine, **updates, **RELEASED))

    async def finish_returning(
        self,
        row: RowT,
        connection: BaseDBAsyncClient,
        returning: str,
        *,
        wait_seconds: float | None = None,
        **updates: Any,
    ) -> dict[str, Any] | None:
        """`finish` (`retry_later` if `wait_seconds` is given) that also reads back the row's
        `returning` columns as written, in the same statement; None if the lease was lost."""
        if wait_seconds is not None:
            due_at = self.clock() + timedelta(seconds=wait_seconds)
            updates = {**updates, "status": self.waiting, "next_attempt_at": due_at}
        update = self._mine(row, connection).update(**updates, **RELEASED)
        rows = await update_returning(update, returning, connection)
        return rows[0] if rows else None

    async def retry_later(
        self, row: RowT, wait_seconds: float, connection: BaseDBAsyncClient | None = None, **updates: Any
    ) -> bool:
        """`finish`, leaving the row waiting to be due again after `wait_seconds`."""
        due_at = self.clock() + timedelta(seconds=wait_seconds)
        return await self.finish(row, connection, status=self.waiting, next_attempt_at=due_at, **updates)

    async def update_waiting(
        self, where: Q, connection: BaseDBAsyncClient | None = None, **updates: Any
    ) -> int:
        """Change rows `where` admits that are waiting and leased by nobody, in one statement: a row
        a worker has leased meanwhile is left alone. Returns how many changed."""
        free = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=self.clock())
        waiting = self.model.filter(where & free, status=self.waiting).using_db(connection)
        return await waiting.update(**updates)

    async def hand_back(self, owner: str) -> int:
        """Release every row `owner` still holds, due at once (a worker that stops)."""
        held = self.model.filter(lease_owner__startswith=f"{owner}:", status=self.leased)
        return await held.update(status=self.waiting, **RELEASED)


@asynccontextmanager
async def running(worker: QueueWorker, *, grace_seconds: float) -> AsyncIterator[QueueWorker]:
    """Run `worker` in the background for the block; on the way out, stop it and hand back its work."""
    runner = asyncio.create_task(worker.run(), name=type(worker).__name__)
    try:
        yield worker
    finally:
        await worker.stop(runner, grace_seconds)


@dataclass(frozen=True)
class Lane:
    """The rows `where` selects, claimed before those of later lanes, using at most `share` of the
    worker's concurrency (at least one slot). The first lane's claims are `urgent()`: on a database
    taken in turns they go before other work waiting for it."""

    name: str
    where: Q
    share: float = 1.0

    def slots(self, concurrency: int) -> int:
        return max(1, int(concurrency * self.share))

    def room(self, concurrency: int, in_flight: int) -> int:
        """How many rows to claim now. A capped lane that is busy refills only once half its slots
        are free: each of its rows finishing would otherwise cost a claim of its own."""
        slots = self.slots(concurrency)
        free = slots - in_flight
        if self.share < 1 and in_flight and free * 2 < slots:
            return 0
        return free


class WorkerOptions(TypedDict):
    """How a worker runs, whatever its table: what each subclass passes through to `QueueWorker`."""

    concurrency: int
    lease_seconds: float
    poll_seconds: float
    clock: NotRequired[Clock]
    rng: NotRequired[random.Random | None]
    lanes: NotRequired[tuple[Lane, ...]]


class QueueWorker(ABC, Generic[RowT]):
    """Claims due rows and processes each in its own task, at most `concurrency` at a time (a task
    whose remaining work needs no slot may give its slot back first: `give_back_slot`).

    A subclass names its table (`model`) and the two statuses of it the queue moves rows
    between (`waiting`, `leased`; the same one where a claimed row shows no change), and may
    set `lanes` (in the order they are served) to give some rows precedence.
    """

    model: ClassVar[type[LeasedRow]]
    waiting: ClassVar[Any]
    leased: ClassVar[Any]
    lanes: tuple[Lane, ...] = ()

    def __init__(self, **options: Unpack[WorkerOptions]) -> None:
        clock = options.get("clock", utc_now)
        self.log = logging.getLogger(type(self).__module__)  # the subclass's module logs its reports
        self.lease_seconds = options["lease_seconds"]
        self.queue = LeasedQueue(self.model, self.waiting, self.leased, self.lease_seconds, clock)
        self.concurrency = options["concurrency"]
        self.poll_seconds = options["poll_seconds"]
        self.clock = clock
        self.rng = options.get("rng") or random.Random()  # noqa: S311 - jitter, not security
        self.lanes = options.get("lanes", type(self).lanes)
        # Fits the 64-character lease_owner column with a claim id appended, whatever the host name.
        self.name = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._in_flight: dict[asyncio.Task, str | None] = {}  # each task's lane
        self._slot_given_back: set[asyncio.Task] = set()  # still running, no longer in a slot
        self._claiming: dict[str | None, int] = {}  # slots each lane's claim under way may fill
        self._wakeups: dict[str | None, asyncio.Event] = {
            lane: asyncio.Event() for lane in ([lane.name for lane in self.lanes] or [None])
        }
        # Whether each lane's last look stopped at its room, so due rows may be left for a free slot.
        self._cut_short: dict[str | None, bool] = dict.fromkeys(self._wakeups, False)
        self._stopping = False

    @abstractmethod
    async def process(self, row: RowT) -> None:
        """Do the work for one leased row and record the result (conditional on the lease)."""

    async def before_claim(self) -> None:
        """A hook run on every turn of the last lane's loop (the only loop without lanes), e.g. to
        refresh a gauge: an earlier lane's claim never waits for it."""

    def wake(self, lane: str | None = None) -> None:
        """New work may be due: `lane` looks now instead of at the next poll; every lane does when
        `lane` is None or names none of this worker's (a new row's lane alone need look for it)."""
        named = self._wakeups.get(lane) if lane is not None else None
        for event in [named] if named is not None else self._wakeups.values():
            event.set()

    async def claim(self, limit: int, where: Q | None = None) -> list[RowT]:
        return await self.queue.claim(self.name, limit, where)

    def in_flight(self, lane: str | None = None) -> int:
        """Rows being processed now, in `lane` or in all."""
        if lane is None:
            return len(self._in_flight)
        return sum(1 for owner in self._in_flight.values() if owner == lane)

    def _room(self, lane: Lane | None) -> int:
        """How many rows `lane` may claim now: the worker's free slots (less those another lane's
        claim under way may fill), within the lane's own share."""
        free = self.concurrency - len(self._in_flight) - sum(self._claiming.values())
        if lane is None:
            return free
        return min(free, lane.room(self.concurrency, self.in_flight(lane.name)))

    async def _claim_by_lane(self) -> list[tuple[RowT, str | None]]:
        """One claim of every lane in turn, as each lane's loop makes it (tests call this)."""
        claimed: list[tuple[RowT, str | None]] = []
        for lane in self.lanes or (None,):
            claimed += [(row, lane.name if lane else None) for row in await self._claim_for(lane)]
        return claimed

    async def _claim_for(self, lane: Lane | None) -> list[RowT]:
        """Claim what `lane` has room for, and note whether the room, not the due rows, ran out."""
        room = self._room(lane)
        name = lane.name if lane else None
        if room <= 0:
            self._cut_short[name] = True
            return []
        self._claiming[name] = room  # held while the claim awaits, so lanes never overfill the worker
        first = lane is not None and len(self.lanes) > 1 and lane is self.lanes[0]
        try:
            with urgent() if first else nullcontext():  # before later lanes' work, where that matters
                claimed = await self.claim(room, lane.where if lane else None)
        finally:
            del self._claiming[name]
        self._cut_short[name] = len(claimed) >= room
        return claimed

    async def run(self) -> None:
        """Each lane's loop (one loop without lanes) until `stop`."""
        lanes = self.lanes or (None,)
        async with asyncio.TaskGroup() as loops:  # one failing stops the others
            for lane in lanes:
                loops.create_task(self._loop(lane, housekeeping=lane is lanes[-1]))

    async def _loop(self, lane: Lane | None, *, housekeeping: bool) -> None:
        """Claim, and claim again at once only while each claim fills the lane's room; otherwise
        wait to be woken (new work, or a slot freed while rows were left) or for the poll.

        A claim that took fewer rows than it asked for took every row then due: looking again at
        once, or whenever a slot frees, would find nothing, and under a steady trickle would cost
        two empty claims (each a database round trip) for every row handed over. What comes due
        later wakes the worker (the writer's wake-up, a NOTIFY) or is found by the poll."""
        name = lane.name if lane else None
        wakeup = self._wakeups[name]
        while not self._stopping:
            # Cleared before looking, never after: a wake-up that comes while we look is kept.
            wakeup.clear()
            try:
                if housekeeping:
                    await self.before_claim()
                claimed = await self._claim_for(lane)
            except Exception as exc:
                self._report(exc)
                await asyncio.sleep(ERROR_PAUSE_SECONDS)
                continue
            for row in claimed:
                task = asyncio.create_task(self._traced(row), name=f"{type(self).__name__} {row.pk}")
                self._in_flight[task] = name
                task.add_done_callback(self._finished)
            if claimed and self._cut_short[name]:
                continue  # it filled its room: more may be due
            if not self._cut_short[name]:
                self._wake_cut_short()  # the slots its claim held and did not fill are free again
            await self._idle(wakeup)

    async def _traced(self, row: RowT) -> None:
        """`process`, in the trace of whoever wrote the row (its `traceparent` column, if any)."""
        with continued_span(type(self).__name__, getattr(row, "traceparent", None), row=str(row.pk)):
            await self.process(row)

    def give_back_slot(self) -> bool:
        """Called from `process`: what is left of it (writing its result down) needs no slot, so
        another row may take this one now. The row stays leased until that write releases it, and
        `stop` still waits for it. At most `concurrency` tasks run without a slot, which bounds
        the work a crash can catch between its end and its record to twice the concurrency.
        False (nothing done) outside the worker's own tasks, or when that many already run so."""
        task = asyncio.current_task()
        if task not in self._in_flight or len(self._slot_given_back) >= self.concurrency:
            return False
        self._slot_given_back.add(task)
        self._free_slot(task)
        return True

    def _finished(self, task: asyncio.Task) -> None:
        """The task ended: its slot is free (if it had not given it back), and what it raised is told."""
        self._slot_given_back.discard(task)
        if task in self._in_flight:
            self._free_slot(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._report(exc)

    def _free_slot(self, task: asyncio.Task) -> None:
        """A slot is free: wake the lanes that left due rows for want of room, if they can claim now."""
        self._in_flight.pop(task, None)
        self._wake_cut_short()

    def _wake_cut_short(self) -> None:
        """Wake every lane whose last look stopped at its room and that has room now (a capped lane
        waits to refill)."""
        for name, wakeup in self._wakeups.items():
            if self._cut_short[name] and self._room(self._lane_named(name)) > 0:
                wakeup.set()

    def _report(self, exc: BaseException) -> None:
        if is_database_unavailable(exc):
            self.log.warning(
                "database unavailable; %s pauses", type(self).__name__, extra={"error": type(exc).__name__}
            )
        else:
            self.log.error("%s error", type(self).__name__, exc_info=exc)

    def _lane_named(self, name: str | None) -> Lane | None:
        return next((lane for lane in self.lanes if lane.name == name), None)

    async def _idle(self, wakeup: asyncio.Event) -> None:
        try:
            async with asyncio.timeout(self.poll_seconds):
                await wakeup.wait()
        except TimeoutError:
            pass

    async def stop(self, runner: asyncio.Task, grace_seconds: float) -> None:
        """Stop claiming, give in-flight work `grace_seconds`, then hand back what is left."""
        self._stopping = True
        self.wake()
        await runner
        if running := {*self._in_flight, *self._slot_given_back}:
            _done, pending = await asyncio.wait(running, timeout=grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        try:
            released = await self.queue.hand_back(self.name)
        except Exception as exc:  # the database may be gone; the leases will simply expire
            self._report(exc)
            return
        if released:
            self.log.info(
                "handed back unfinished work", extra={"worker": type(self).__name__, "released": released}
            )
