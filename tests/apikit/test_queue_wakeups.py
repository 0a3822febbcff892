"""When a queue worker looks for due rows: at once while each claim fills its room, when woken, when
a slot frees while rows were left for want of room, and at its poll; never again for nothing.

The worker here claims from a list in memory and never polls within a test (a ten-minute poll), so
every claim it makes is one the wake-up logic asked for.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from apikit.queue import QueueWorker

LONG_POLL_SECONDS = 600.0


@dataclass
class Row:
    pk: int


class ListWorker(QueueWorker[Row]):
    """Claims the first `limit` rows of `due`; each row's work waits until the test releases it."""

    model = Row
    waiting = leased = "pending"

    def __init__(self, concurrency: int) -> None:
        super().__init__(concurrency=concurrency, lease_seconds=30, poll_seconds=LONG_POLL_SECONDS)
        self.due: list[Row] = []
        self.claims: list[int] = []  # rows each claim returned
        self.done: list[int] = []
        self.release: dict[int, asyncio.Event] = {}
        self.queue.hand_back = self._hand_back  # nothing is leased in a list

    async def _hand_back(self, _owner: str) -> int:
        return 0

    async def claim(self, limit, where=None):
        taken, self.due = self.due[:limit], self.due[limit:]
        self.claims.append(len(taken))
        return taken

    async def process(self, row: Row) -> None:
        await self.release.setdefault(row.pk, asyncio.Event()).wait()
        self.done.append(row.pk)

    def add(self, *pks: int) -> None:
        self.due += [Row(pk) for pk in pks]

    def finish(self, *pks: int) -> None:
        for pk in pks:
            self.release.setdefault(pk, asyncio.Event()).set()


async def settle() -> None:
    """Let every task that can run do so (no clock involved: the poll is ten minutes away)."""
    for _ in range(20):
        await asyncio.sleep(0)


async def started(worker: ListWorker) -> asyncio.Task:
    runner = asyncio.create_task(worker.run())
    await settle()
    assert worker.claims == [0]  # it looked once on starting, found nothing, and waits
    return runner


async def test_a_row_handed_over_costs_one_claim_not_a_second_look_nor_one_when_it_finishes():
    worker = ListWorker(concurrency=8)
    runner = await started(worker)
    try:
        worker.add(1)
        worker.wake()
        await settle()
        worker.finish(1)
        await settle()

        assert worker.done == [1]
        assert worker.claims == [0, 1]  # it took all that was due: nothing to look for until woken
    finally:
        await worker.stop(runner, grace_seconds=1)


async def test_a_claim_that_fills_the_room_looks_again_and_a_freed_slot_takes_what_was_left():
    worker = ListWorker(concurrency=2)
    runner = await started(worker)
    try:
        worker.add(1, 2, 3, 4, 5)
        worker.wake()
        await settle()
        assert worker.claims == [0, 2]  # full: the rest waits for a slot, not for the poll
        assert worker.in_flight() == 2

        for pk in (1, 2, 3, 4, 5):
            worker.finish(pk)
            await settle()

        assert worker.done == [1, 2, 3, 4, 5]
        assert worker.due == []
    finally:
        await worker.stop(runner, grace_seconds=1)


async def test_a_wake_up_while_full_is_not_lost():
    worker = ListWorker(concurrency=1)
    runner = await started(worker)
    try:
        worker.add(1)
        worker.wake()
        await settle()
        worker.add(2)
        worker.wake()  # nothing can be claimed now: the slot is busy
        await settle()
        assert worker.done == []

        worker.finish(1, 2)
        await settle()

        assert worker.done == [1, 2]
    finally:
        await worker.stop(runner, grace_seconds=1)


async def test_a_wake_up_during_a_claim_makes_it_look_again():
    worker = ListWorker(concurrency=8)
    runner = await started(worker)
    claim, held, go_on = worker.claim, asyncio.Event(), asyncio.Event()

    async def claim_that_looked_before_the_commit(limit, where=None):
        worker.claim = claim  # only this once
        held.set()
        await go_on.wait()
        worker.claims.append(0)
        return []

    worker.claim = claim_that_looked_before_the_commit
    try:
        worker.wake()
        await held.wait()
        worker.add(1)
        worker.wake()  # the row's commit, heard while the claim is under way
        go_on.set()
        await settle()
        worker.finish(1)
        await settle()

        assert worker.done == [1]
    finally:
        await worker.stop(runner, grace_seconds=1)


class GivingBackWorker(ListWorker):
    """Gives its slot back as soon as a row starts (as a delivery does once its send is over)."""

    def __init__(self, concurrency: int) -> None:
        super().__init__(concurrency)
        self.given_back: dict[int, bool] = {}

    async def process(self, row: Row) -> None:
        self.given_back[row.pk] = self.give_back_slot()
        await super().process(row)


async def test_no_more_rows_run_without_a_slot_than_the_concurrency():
    worker = GivingBackWorker(concurrency=2)
    runner = await started(worker)
    try:
        worker.add(1, 2, 3, 4, 5)
        worker.wake()
        await settle()

        # Rows 1 and 2 gave their slots to 3 and 4; those could not give theirs back, so 5 waits.
        assert worker.given_back == {1: True, 2: True, 3: False, 4: False}
        assert worker.due == [Row(5)]

        worker.finish(1)  # it had no slot: none is freed
        await settle()
        assert worker.due == [Row(5)]

        worker.finish(3)
        await settle()
        assert worker.given_back[5] is True  # only 2 runs without a slot now, so 5 may give its back
        assert worker.give_back_slot() is False  # outside the worker's own tasks
    finally:
        worker.finish(2, 3, 4, 5)
        await worker.stop(runner, grace_seconds=1)
