"""`UrgentFirstLock`: urgent waiters go first, and the lock is never held twice, cancellations included."""

from __future__ import annotations

import asyncio
import random
from contextlib import nullcontext

import pytest

from apikit.urgency import UrgentFirstLock, is_urgent, urgent


async def _waiting(
    lock: UrgentFirstLock, names: list[tuple[str, bool]], order: list[str]
) -> list[asyncio.Task]:
    async def use(name: str, marked: bool) -> None:
        with urgent() if marked else nullcontext():
            async with lock:
                order.append(name)

    tasks = [asyncio.create_task(use(name, marked)) for name, marked in names]
    await asyncio.sleep(0)  # every one of them waiting now
    return tasks


async def test_urgent_waiters_go_before_those_already_waiting_each_kind_in_turn():
    lock, order = UrgentFirstLock(), []
    await lock.acquire()
    tasks = await _waiting(
        lock, [("a", False), ("b", False), ("u1", True), ("c", False), ("u2", True)], order
    )

    lock.release()
    await asyncio.gather(*tasks)

    assert order == ["u1", "u2", "a", "b", "c"]


async def test_a_free_lock_is_taken_at_once_and_release_twice_is_an_error():
    lock = UrgentFirstLock()

    async with lock:
        assert lock.locked()
    assert not lock.locked()
    with pytest.raises(RuntimeError, match="not acquired"):
        lock.release()


async def test_a_woken_waiter_cancelled_before_it_runs_passes_the_lock_on():
    lock, order = UrgentFirstLock(), []
    await lock.acquire()
    [first, second] = await _waiting(lock, [("urgent", True), ("other", False)], order)

    lock.release()  # wakes the urgent one...
    first.cancel()  # ...which is cancelled before it runs
    await asyncio.gather(first, second, return_exceptions=True)

    assert order == ["other"]
    assert not lock.locked()


@pytest.mark.parametrize("seed", range(20))
async def test_never_two_holders_whatever_is_cancelled(seed):
    rng = random.Random(seed)
    lock, inside, most = UrgentFirstLock(), [0], [0]

    async def use(marked: bool) -> None:
        with urgent() if marked else nullcontext():
            async with lock:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                try:
                    await asyncio.sleep(0)  # a holder may be cancelled too
                finally:
                    inside[0] -= 1

    tasks = [asyncio.create_task(use(rng.random() < 0.3)) for _ in range(60)]
    for _ in range(40):
        await asyncio.sleep(0)
        rng.choice(tasks).cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    assert most[0] == 1
    assert not lock.locked()
    assert sum(not task.cancelled() for task in tasks) > 0


async def test_urgency_is_the_blocks_and_its_tasks():
    async def inner() -> bool:
        return is_urgent()

    with urgent():
        started = asyncio.create_task(inner())
        assert is_urgent()
    assert await started
    assert not is_urgent()
