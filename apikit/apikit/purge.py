"""Retention: deleting what no one needs any more, in small batches, by one replica at a time.

Each `PurgeRule` says which rows of a table are old enough to go. A `Purger`
takes a named lease (so one process purges at a time), then deletes each
rule's rows in batches of `batch_size`, each batch its own short transaction,
renewing the lease between batches, and counts what it removed in
`purged_rows_total{table}`. Nothing holds a long transaction or a table lock,
so deliveries and orders carry on while it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

from apikit.database import is_database_unavailable, transaction
from apikit.keys import METRICS_RECORDER
from apikit.leases import LeaseBase, acquire, release
from apikit.queue import Clock, utc_now

log = logging.getLogger("apikit.purge")

LEASE_NAME = "purge"
PAUSE_BETWEEN_BATCHES_SECONDS = 0.01  # lets other work in between on a busy database

Delete = Callable[[list, BaseDBAsyncClient], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class PurgeRule:
    """`old(cutoff)` selects the rows of `model` old enough to delete. `delete(ids, connection)`,
    when given, removes them and what hangs off them; by default the rows are deleted by id.
    Either way it returns how many rows went, per table."""

    model: type[Model]
    retention: timedelta | None  # None: kept forever
    old: Callable[[datetime], Q]
    delete: Delete | None = None

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    def candidates(self, cutoff: datetime) -> QuerySet:
        return self.model.filter(self.old(cutoff))

    async def remove(self, ids: list, connection: BaseDBAsyncClient) -> dict[str, int]:
        if self.delete is not None:
            return await self.delete(ids, connection)
        return {self.table: await self.model.filter(id__in=ids).using_db(connection).delete()}


def retention_of(amount: float, unit: str) -> timedelta | None:
    """A setting's value: 0 switches that retention off (keep forever)."""
    return timedelta(**{unit: amount}) if amount > 0 else None


def _unused_since(cutoff: datetime) -> Q:
    # Last used: created, or claimed until `locked_until`; whichever is later.
    return Q(created_at__lt=cutoff, locked_until__lt=cutoff)


def idempotency_rule(model: type[Model], hours: float) -> PurgeRule:
    """A service's idempotency records (an `apikit.idempotency.IdempotencyRecordBase`) unused for
    `hours`; 0 keeps them."""
    return PurgeRule(model, retention_of(hours, "hours"), _unused_since)


class PurgeMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rows = PromCounter(
            "purged_rows_total", "Rows deleted by the retention purge.", ["table"], registry=registry
        )


class Purger:
    def __init__(
        self,
        rules: Sequence[PurgeRule],
        *,
        lease_model: type[LeaseBase],
        batch_size: int,
        lease_seconds: float = 120.0,
        clock: Clock = utc_now,
        metrics: PurgeMetrics | None = None,
    ) -> None:
        self.rules = rules
        self.lease_model = lease_model
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.metrics = metrics
        self.owner = f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"

    async def _hold_lease(self) -> bool:
        return await acquire(
            self.lease_model, LEASE_NAME, self.owner, seconds=self.lease_seconds, now=self.clock()
        )

    async def run_once(self, *, dry_run: bool = False) -> dict[str, int] | None:
        """Rows removed (or, with `dry_run`, that would be) per table; None if another process holds
        the lease."""
        if not dry_run and not await self._hold_lease():
            log.info("another process is purging; skipped")
            return None
        counts: Counter[str] = Counter()
        try:
            for rule in self.rules:
                if rule.retention is None:
                    continue
                cutoff = self.clock() - rule.retention
                if dry_run:
                    counts[rule.table] += await rule.candidates(cutoff).count()
                elif not await self._purge(rule, cutoff, counts):
                    break  # the lease was lost: another process carries on
        finally:
            if not dry_run:
                await release(self.lease_model, LEASE_NAME, self.owner)
        if any(counts.values()):
            log.info("dry run: would purge" if dry_run else "purged", extra={"rows": dict(counts)})
        return dict(counts)

    async def _purge(self, rule: PurgeRule, cutoff: datetime, counts: Counter[str]) -> bool:
        """Delete `rule`'s old rows batch by batch into `counts`; False if the lease was lost."""
        counts[rule.table] += 0
        while True:
            ids = await rule.candidates(cutoff).limit(self.batch_size).values_list("id", flat=True)
            if not ids:
                return True
            async with transaction() as connection:
                gone = await rule.remove(list(ids), connection)
            for table, rows in gone.items():
                counts[table] += rows
                if self.metrics is not None:
                    self.metrics.rows.labels(table).inc(rows)
            if len(ids) < self.batch_size:
                return True
            if not await self._hold_lease():
                log.warning("purge lease lost; stopping", extra={"table": rule.table})
                return False
            await asyncio.sleep(PAUSE_BETWEEN_BATCHES_SECONDS)

    async def run_forever(self, interval_seconds: float) -> None:
        """Purge every `interval_seconds` (the first run after one interval, so replicas started
        together spread out); errors are logged and the next run tries again."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if is_database_unavailable(exc):
                    log.warning("database unavailable; purge waits", extra={"error": type(exc).__name__})
                else:
                    log.error("purge failed", exc_info=exc)


@asynccontextmanager
async def purging(purger: Purger, interval_seconds: float) -> AsyncIterator[Purger]:
    """Run `purger` in the background for the block."""
    task = asyncio.create_task(purger.run_forever(interval_seconds), name="purge")
    try:
        yield purger
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def purge_in_background(
    make_purger: Callable[..., Purger], interval_seconds: float
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context (`app.cleanup_ctx`) that purges every `interval_seconds`, one replica at a
    time, while the application runs; `make_purger(metrics=...)` is given the application's metrics."""

    async def purge(app: web.Application) -> AsyncIterator[None]:
        metrics = PurgeMetrics(app[METRICS_RECORDER].registry)
        async with purging(make_purger(metrics=metrics), interval_seconds):
            yield

    return purge
