"""Delivery workers: leases, attempts, retries, fallbacks and shutdown, on a real database.

Time is injected: the worker's clock is a value the test moves, never a sleep.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from notification_gateway import PermanentDeliveryError, RetryableDeliveryError, recording
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.keys import FLOW
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.models import DeliveryAttempt, Notification, NotificationEvent
from notification_gateway.plugins import load_channels
from notification_gateway.policy import RetryPolicy
from notification_gateway.receipts import ReceiptContext
from notification_gateway.status import NotificationStatus
from notification_gateway.suppression import SuppressionRules
from tests.notification_gateway.conftest import PigeonPlugin, notify, notify_body

BIRD = {"id": "u_b", "name": "Bird Fancier", "loft": "loft-7", "email": "b@example.com"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)  # ahead of notifications made in the test

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class EmailStub(PigeonPlugin):
    """A second scripted channel, standing in for e-mail as the fallback."""

    def __init__(self) -> None:
        super().__init__()
        self.channel.name, self.channel.recipient_field = "email", "email"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def email_stub() -> EmailStub:
    return EmailStub()


@pytest.fixture
async def make_worker(client, pigeon, email_stub, clock):
    channels = load_channels(frozenset(), [("pigeon", pigeon), ("email-stub", email_stub)])
    async with aiohttp.ClientSession() as session:
        workers = []

        def make(**overrides) -> DeliveryWorker:
            options = {
                "channels": channels,
                "session": session,
                "policy": RetryPolicy(max_attempts=3, base_seconds=1, max_seconds=10),
                "metrics": DeliveryMetrics(CollectorRegistry()),
                "receipts": ReceiptContext(channels, SuppressionRules(b"test-key")),
                "flow": client.app[FLOW],
                "concurrency": 8,
                "lease_seconds": 30,
                "poll_seconds": 0.05,
                "clock": clock,
                "rng": random.Random(7),
            } | overrides
            worker = DeliveryWorker(**options)
            workers.append(worker)
            return worker

        yield make


async def _queue(client, count: int = 1, **overrides) -> list[str]:
    ids = []
    for _ in range(count):
        body = await (await notify(client, notify_body(recipient=BIRD, channel="pigeon", **overrides))).json()
        ids.append(body["id"])
    return ids


async def _run_once(worker: DeliveryWorker) -> None:
    """Claim what is due and finish every delivery, without the polling loop."""
    claimed = await worker.claim(worker.concurrency)
    await asyncio.gather(*(worker.deliver(notification) for notification in claimed))


async def test_a_due_notification_is_delivered_once_and_recorded(client, make_worker, pigeon, clock):
    [notification_id] = await _queue(client)
    worker = make_worker()

    await _run_once(worker)
    await _run_once(worker)

    assert [m.notification_id for m in pigeon.channel.sent] == [notification_id]
    assert pigeon.channel.sent[0].text == "Hi Bird Fancier, your order has been successfully placed."
    stored = await Notification.get(id=notification_id)
    assert stored.status is NotificationStatus.SENT
    assert stored.lease_owner is None
    [attempt] = await DeliveryAttempt.filter(notification_id=notification_id)
    assert (attempt.number, attempt.outcome, attempt.provider_status) == (1, "sent", 200)


async def test_a_claim_is_exclusive_until_its_lease_runs_out(client, make_worker, clock):
    await _queue(client, 3)
    first, second = make_worker(), make_worker()

    claimed_first = await first.claim(10)
    claimed_second = await second.claim(10)
    clock.advance(31)  # the first worker died: its leases expire
    reclaimed = await second.claim(10)

    assert len(claimed_first) == 3
    assert claimed_second == []
    assert {n.id for n in reclaimed} == {n.id for n in claimed_first}
    assert all(n.lease_owner.startswith(second.name) for n in reclaimed)


async def test_a_worker_that_lost_its_lease_records_nothing(client, make_worker, pigeon, clock):
    [notification_id] = await _queue(client)
    slow, other = make_worker(), make_worker()
    [mine] = await slow.claim(1)
    clock.advance(31)
    await _run_once(other)

    await slow.deliver(mine)

    assert await DeliveryAttempt.filter(notification_id=notification_id).count() == 1
    assert (await Notification.get(id=notification_id)).status is NotificationStatus.SENT


class TopOfRange(random.Random):
    """Full jitter at its ceiling: the wait is exactly the backoff's bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_retryable_failures_wait_for_the_backoff(client, make_worker, pigeon, clock):
    [notification_id] = await _queue(client)
    pigeon.channel.script = [RetryableDeliveryError("provider answered 503", provider_status=503)] * 2
    worker = make_worker(policy=RetryPolicy(max_attempts=5, base_seconds=8, max_seconds=60), rng=TopOfRange())
    failed_at = clock.now

    await _run_once(worker)  # 1st failure: waits 8 s
    first_wait = (await Notification.get(id=notification_id)).next_attempt_at - failed_at
    clock.advance(7.9)
    await _run_once(worker)  # not due yet: nothing happens
    early = await DeliveryAttempt.filter(notification_id=notification_id).count()
    clock.advance(0.1)
    await _run_once(worker)  # 2nd failure: waits 16 s
    second_wait = (await Notification.get(id=notification_id)).next_attempt_at - clock.now
    clock.advance(16)
    await _run_once(worker)

    assert (first_wait, second_wait) == (timedelta(seconds=8), timedelta(seconds=16))
    assert early == 1
    attempts = await DeliveryAttempt.filter(notification_id=notification_id).order_by("number")
    assert [(a.outcome, a.provider_status) for a in attempts] == [
        ("retryable", 503),
        ("retryable", 503),
        ("sent", 200),
    ]
    assert len(pigeon.channel.sent) == 1


async def test_retry_after_is_honoured(client, make_worker, pigeon, clock):
    [notification_id] = await _queue(client)
    pigeon.channel.script = [
        RetryableDeliveryError("provider answered 429", provider_status=429, retry_after=120)
    ]
    worker = make_worker()

    await _run_once(worker)
    clock.advance(119)
    await _run_once(worker)
    waiting = await Notification.get(id=notification_id)
    clock.advance(1)
    await _run_once(worker)

    assert waiting.status is NotificationStatus.QUEUED
    assert waiting.next_attempt_at == clock.now
    [first, second] = await DeliveryAttempt.filter(notification_id=notification_id).order_by("number")
    assert first.retry_after_seconds == 120
    assert second.outcome == "sent"


async def test_a_permanent_failure_moves_to_the_fallback_channel(client, make_worker, pigeon, email_stub):
    [notification_id] = await _queue(client)
    await Notification.filter(id=notification_id).update(fallback_channels=["email"])
    pigeon.channel.script = [PermanentDeliveryError("provider answered 400", provider_status=400)]
    worker = make_worker()

    await _run_once(worker)
    await _run_once(worker)

    stored = await Notification.get(id=notification_id)
    assert (stored.status, stored.channel, stored.fallback_channels) == (
        NotificationStatus.SENT,
        "email",
        [],
    )
    attempts = await DeliveryAttempt.filter(notification_id=notification_id).order_by("number")
    assert [(a.channel, a.outcome) for a in attempts] == [("pigeon", "permanent"), ("email", "sent")]
    assert len(email_stub.channel.sent) == 1


async def test_running_out_of_attempts_without_fallback_fails(client, make_worker, pigeon, clock):
    [notification_id] = await _queue(client)
    await Notification.filter(id=notification_id).update(fallback_channels=[])
    pigeon.channel.script = [RetryableDeliveryError("timeout")] * 3
    worker = make_worker()

    for _ in range(3):
        await _run_once(worker)
        clock.advance(60)

    stored = await Notification.get(id=notification_id)
    assert stored.status is NotificationStatus.FAILED
    assert stored.finished_at is not None
    assert await DeliveryAttempt.filter(notification_id=notification_id).count() == 3
    assert pigeon.channel.sent == []


async def test_a_channel_that_crashes_is_retried_not_fatal(client, make_worker, pigeon):
    [notification_id] = await _queue(client)
    pigeon.channel.script = [ZeroDivisionError("plugin bug")]

    await _run_once(make_worker())

    [attempt] = await DeliveryAttempt.filter(notification_id=notification_id)
    assert (attempt.outcome, attempt.error) == ("retryable", "channel error (ZeroDivisionError)")


async def test_a_channel_no_longer_installed_fails_permanently(client, make_worker):
    [notification_id] = await _queue(client)
    await Notification.filter(id=notification_id).update(channel="fax", fallback_channels=[])

    await _run_once(make_worker())

    stored = await Notification.get(id=notification_id)
    assert stored.status is NotificationStatus.FAILED
    [attempt] = await DeliveryAttempt.filter(notification_id=notification_id)
    assert attempt.error == "channel 'fax' is not installed here"


async def test_the_loop_delivers_and_a_stop_hands_back_unfinished_work(client, make_worker, pigeon):
    await _queue(client, 5)
    release, holding = asyncio.Event(), asyncio.Event()
    sent = pigeon.channel.send

    async def slow_after_two(message, session):
        if len(pigeon.channel.sent) >= 2:
            holding.set()
            await release.wait()
        return await sent(message, session)

    pigeon.channel.send = slow_after_two
    worker = make_worker(concurrency=5)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(holding.wait(), 10)

    await worker.stop(runner, grace_seconds=0.1)

    statuses = sorted(n.status for n in await Notification.all())
    assert statuses.count(NotificationStatus.SENT) == 2
    assert statuses.count(NotificationStatus.QUEUED) == 3
    assert await Notification.filter(lease_owner__isnull=False).count() == 0


async def test_concurrency_bounds_the_sends_in_flight(client, make_worker, pigeon):
    await _queue(client, 6)
    in_flight, peak = 0, 0
    release, two_in_flight, all_sent = asyncio.Event(), asyncio.Event(), asyncio.Event()
    sent = pigeon.channel.send

    async def counting(message, session):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if in_flight == 2:
            two_in_flight.set()
        await release.wait()
        in_flight -= 1
        receipt = await sent(message, session)
        if len(pigeon.channel.sent) == 6:
            all_sent.set()
        return receipt

    pigeon.channel.send = counting
    worker = make_worker(concurrency=2)
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(two_in_flight.wait(), 10)
    await asyncio.sleep(0.1)  # room for a third send to start, if the bound did not hold
    release.set()
    await asyncio.wait_for(all_sent.wait(), 10)
    await worker.stop(runner, grace_seconds=1)

    assert peak == 2


async def test_a_finished_send_gives_its_slot_to_the_next_while_at_most_concurrency_records_wait(
    client, make_worker, pigeon, monkeypatch
):
    await _queue(client, 6)
    worker = make_worker(concurrency=2)
    recorded = asyncio.Event()
    real = worker.recorder._write_batches

    async def held():
        await recorded.wait()
        await real()

    monkeypatch.setattr(worker.recorder, "_write_batches", held)
    runner = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(10):
            await _until(lambda: len(pigeon.channel.sent) == 4)
        await asyncio.sleep(0.1)  # room for a fifth send to start, if the bound did not hold

        # Two sends over and waiting for their record gave their slots to two more, which keep theirs.
        assert len(pigeon.channel.sent) == 4
        assert await Notification.filter(lease_owner__isnull=False).count() == 4
        assert await DeliveryAttempt.all().count() == 0
        recorded.set()
        async with asyncio.timeout(10):
            await _until(lambda: len(pigeon.channel.sent) == 6)
    finally:
        recorded.set()
        await worker.stop(runner, grace_seconds=5)

    assert len(pigeon.channel.sent) == 6
    assert await DeliveryAttempt.all().count() == 6
    assert await Notification.filter(lease_owner__isnull=False).count() == 0


async def test_stopping_waits_for_the_records_of_sends_that_gave_back_their_slots(
    client, make_worker, pigeon, monkeypatch
):
    await _queue(client, 2)
    worker = make_worker(concurrency=2)
    recorded = asyncio.Event()
    real = worker.recorder._write_batches

    async def held():
        await recorded.wait()
        await real()

    monkeypatch.setattr(worker.recorder, "_write_batches", held)
    runner = asyncio.create_task(worker.run())
    async with asyncio.timeout(10):
        await _until(lambda: len(pigeon.channel.sent) == 2)
    assert worker.in_flight() == 0  # both slots given back

    stopping = asyncio.create_task(worker.stop(runner, grace_seconds=5))
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waits for the records, not only for the slots
    recorded.set()
    await stopping

    statuses = [n.status for n in await Notification.all()]
    assert statuses == [NotificationStatus.SENT] * 2  # recorded, not handed back to be sent again
    assert await Notification.filter(lease_owner__isnull=False).count() == 0


async def _until(condition) -> None:
    """Let the worker's tasks run until `condition` holds (the caller bounds the wait)."""
    while not condition():  # noqa: ASYNC110 - the sends are the worker's tasks, not ours to signal
        await asyncio.sleep(0.01)


async def test_claims_skip_rows_other_workers_have_locked_on_postgresql(client, make_worker, database_server):
    from tortoise import connections

    worker = make_worker()
    sql = worker.queue.due_rows(worker.queue.clock(), 5, connections.get("default")).sql()

    if database_server.kind == "postgres":
        assert sql.endswith("FOR UPDATE SKIP LOCKED")
    else:
        assert "FOR UPDATE" not in sql  # SQLite has no row locks: one process delivers


async def test_attempts_that_end_together_are_recorded_in_one_transaction(
    client, make_worker, pigeon, monkeypatch, database_server
):
    ids = await _queue(client, 5)
    worker = make_worker()
    transactions, batches = [], []
    real_transaction, real_write = recording.transaction, worker.recorder._write

    def counted():
        transactions.append(1)
        return real_transaction()

    async def write(items):
        batches.append(len(items))
        return await real_write(items)

    monkeypatch.setattr(recording, "transaction", counted)
    monkeypatch.setattr(worker.recorder, "_write", write)

    await _run_once(worker)

    assert batches == [5]
    # With no callback, timer or receipt owed, PostgreSQL's record is one statement: no BEGIN needed.
    assert len(transactions) == (0 if database_server.kind == "postgres" else 1)
    assert sorted(m.notification_id for m in pigeon.channel.sent) == sorted(ids)
    for notification_id in ids:
        stored = await Notification.get(id=notification_id)
        assert (stored.status, stored.lease_owner, stored.attempt_count) == (NotificationStatus.SENT, None, 1)
        events = await NotificationEvent.filter(notification_id=notification_id).order_by("sequence")
        assert [(e.sequence, e.status) for e in events] == [
            (1, NotificationStatus.QUEUED),
            (2, NotificationStatus.SENT),
        ]
        assert stored.event_count == 2


async def test_a_batch_that_cannot_be_written_is_recorded_attempt_by_attempt(
    client, make_worker, pigeon, monkeypatch
):
    ids = await _queue(client, 3)
    worker = make_worker()
    real = worker.recorder._write
    batches = []

    async def failing_batches(items):
        batches.append(len(items))
        if len(batches) == 1:
            raise RuntimeError("the first batch fails")
        return await real(items)

    monkeypatch.setattr(worker.recorder, "_write", failing_batches)

    await _run_once(worker)

    assert batches[0] == 3
    assert batches[1:] == [1, 1, 1]  # then each on its own
    for notification_id in ids:
        assert (await Notification.get(id=notification_id)).status is NotificationStatus.SENT
        assert await DeliveryAttempt.filter(notification_id=notification_id).count() == 1


async def test_the_address_is_checked_at_notify_and_sent_as_checked(client, make_worker, pigeon):
    checks = []
    original = pigeon.channel.check_address

    def check_address(value: str) -> str:
        checks.append(value)
        return original(value).upper()

    pigeon.channel.check_address = check_address
    [notification_id] = await _queue(client)
    checked_at_notify = len(checks)
    stored = await Notification.get(id=notification_id)

    await _run_once(make_worker())

    assert checked_at_notify >= 1
    assert stored.recipient["addresses"] == {"pigeon": "LOFT-7"}
    assert stored.recipient["contacts"]["loft"] == "loft-7"  # as the caller gave it
    assert [m.address for m in pigeon.channel.sent] == ["LOFT-7"]
    assert len(checks) == checked_at_notify  # none at the send


async def test_a_notification_stored_without_checked_addresses_is_checked_at_the_send(
    client, make_worker, pigeon
):
    [notification_id] = await _queue(client)
    stored = await Notification.get(id=notification_id)
    legacy = {key: value for key, value in stored.recipient.items() if key != "addresses"}
    await Notification.filter(id=notification_id).update(recipient=legacy)

    await _run_once(make_worker())

    assert [m.address for m in pigeon.channel.sent] == ["loft-7"]
