"""Priority lanes: due transactional work is claimed first; bulk work uses only its share of slots."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from tortoise import connections
from tortoise.expressions import Q

from apikit.planner import PlannerStatistics
from apikit.urgency import is_urgent
from notification_gateway.app import create_app
from notification_gateway.keys import WORKER
from notification_gateway.lanes import Priority, delivery_lanes
from notification_gateway.models import Notification
from tests.notification_gateway import test_delivery
from tests.notification_gateway.conftest import notify, notify_body
from tests.notification_gateway.test_delivery import _queue

# The delivery tests' fixtures: a worker on an injected clock, with the pigeon channel.
clock, email_stub, make_worker = test_delivery.clock, test_delivery.email_stub, test_delivery.make_worker


async def test_priority_defaults_to_transactional_and_is_shown(client):
    default = await (await notify(client)).json()
    bulk = await (await notify(client, notify_body(priority="bulk"))).json()

    assert (default["priority"], bulk["priority"]) == ("transactional", "bulk")
    stored = await Notification.get(id=bulk["id"])
    assert stored.priority is Priority.BULK


async def test_an_unknown_priority_is_422(client):
    response = await notify(client, notify_body(priority="urgent"))

    assert response.status == 422
    assert [e["pointer"] for e in (await response.json())["errors"]] == ["#/priority"]


async def test_transactional_work_is_claimed_before_an_older_bulk_backlog(client, make_worker):
    bulk = await _queue(client, 6, priority="bulk")
    transactional = await _queue(client, 2)
    worker = make_worker(concurrency=4, lanes=delivery_lanes(0.25))

    claimed = await worker._claim_by_lane()

    assert [(row.id, lane) for row, lane in claimed] == [
        (transactional[0], "transactional"),
        (transactional[1], "transactional"),
        (bulk[0], "bulk"),  # one slot of four: the bulk share
    ]


async def test_bulk_never_takes_more_than_its_share_of_slots(client, make_worker, pigeon):
    await _queue(client, 10, priority="bulk")
    release = asyncio.Event()
    sending: list[str] = []

    async def held_send(message, session):
        sending.append(message.notification_id)
        await release.wait()
        return await type(pigeon.channel).send(pigeon.channel, message, session)

    pigeon.channel.send = held_send
    worker = make_worker(concurrency=8, lanes=delivery_lanes(0.25))
    runner = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            await _until(lambda: len(sending) == 2)
            transactional = await _queue(client, 3)
            worker.wake()
            await _until(lambda: len(sending) == 5)
        assert worker.in_flight("bulk") == 2  # 25% of 8, however long the backlog
        assert worker.in_flight("transactional") == 3
        assert set(transactional) <= set(sending)
    finally:
        release.set()
        await worker.stop(runner, grace_seconds=5)


async def test_a_transactional_claim_never_waits_behind_a_bulk_claim_or_housekeeping(
    client, make_worker, pigeon
):
    """Each lane claims in a loop of its own: while the bulk lane's claim (or the housekeeping on
    its turn) is held up, transactional work is still claimed and sent."""
    await _queue(client, 3, priority="bulk")
    worker = make_worker(concurrency=8, lanes=delivery_lanes(0.25))
    bulk_claim_held, release = asyncio.Event(), asyncio.Event()
    claim = worker.claim

    async def slow_bulk_claim(limit, where=None):
        if where is worker.lanes[1].where:
            bulk_claim_held.set()
            await release.wait()
        return await claim(limit, where)

    worker.claim = slow_bulk_claim
    runner = asyncio.create_task(worker.run())
    try:
        async with asyncio.timeout(30):
            await bulk_claim_held.wait()
            transactional = await _queue(client, 2)
            worker.wake()
            await _until(lambda: len(pigeon.channel.sent) == 2)
        assert [message.notification_id for message in pigeon.channel.sent] == transactional
        assert worker.in_flight("bulk") == 0  # the bulk claim is still under way
    finally:
        release.set()
        await worker.stop(runner, grace_seconds=5)


async def test_lanes_claiming_at_once_never_take_more_than_the_worker_holds(client, make_worker):
    """A lane's claim under way holds the slots it may fill, so the next lane's share is cut to
    what is left."""
    await _queue(client, 4, priority="bulk")
    await _queue(client, 4)
    worker = make_worker(concurrency=4, lanes=delivery_lanes(0.5))
    transactional_claim_held, release = asyncio.Event(), asyncio.Event()
    claim = worker.claim

    async def slow_transactional_claim(limit, where=None):
        if where is worker.lanes[0].where:
            transactional_claim_held.set()
            await release.wait()
        return await claim(limit, where)

    worker.claim = slow_transactional_claim
    first = asyncio.create_task(worker._claim_for(worker.lanes[0]))
    async with asyncio.timeout(30):
        await transactional_claim_held.wait()
    bulk = await worker._claim_for(worker.lanes[1])  # four slots are being claimed already
    release.set()
    transactional = await first

    assert (len(transactional), len(bulk)) == (4, 0)


async def _until(condition) -> None:
    """Let the worker's tasks run until `condition` holds (the caller bounds the wait)."""
    while not condition():  # noqa: ASYNC110 - the sends are the worker's tasks, not ours to signal
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(("share", "concurrency", "slots"), [(0.25, 32, 8), (0.01, 8, 1), (1.0, 4, 4)])
def test_a_lane_has_at_least_one_slot(share, concurrency, slots):
    _, bulk = delivery_lanes(share)

    assert bulk.slots(concurrency) == slots


@pytest.mark.parametrize("lane", ["transactional", "bulk"])
async def test_a_lanes_claim_reads_the_due_index_in_order(client, make_worker, database_server, lane):
    """With a backlog in both lanes, the claim's own SQL walks the partial index and needs no sort."""
    await _queue(client, 3, priority="bulk")
    await _queue(client, 3)
    worker = make_worker(lanes=delivery_lanes(0.25))
    where = next(candidate.where for candidate in worker.lanes if candidate.name == lane)
    connection = connections.get("default")
    query = worker.queue.due_rows(worker.clock(), 4, connection, where)
    sql = query.sql(params_inline=True)
    if database_server.kind == "postgres":
        await connection.execute_script("SET enable_seqscan = off")  # tiny tables: make the choice visible
        try:
            rows = await connection.execute_query_dict(f"EXPLAIN {sql}")
        finally:
            await connection.execute_script("SET enable_seqscan = on")
        plan = "\n".join(row["QUERY PLAN"] for row in rows)
    else:
        rows = await connection.execute_query_dict(f"EXPLAIN QUERY PLAN {sql}")
        plan = "\n".join(row["detail"] for row in rows)
    assert "notifications_due_by_priority" in plan, plan
    assert "Sort" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan


@pytest.mark.parametrize("priority", list(Priority))
async def test_a_lanes_claim_reads_the_due_index_even_in_a_generic_plan(
    client, make_worker, database_server, priority
):
    """The server plans a statement it runs often once, generically: each lane's claim must still
    find its first due rows through the partial due index, not read and sort the whole queue."""
    if database_server.kind != "postgres":
        pytest.skip("PostgreSQL's plans (SQLite has no generic plans)")
    lane = next(lane for lane in delivery_lanes(0.25) if lane.name == priority.value)
    worker = make_worker(lanes=delivery_lanes(0.25))
    sql, constants = worker.queue._claim_statement(
        worker._claimable_within(lane.where), connections.get("default")
    )
    assert constants == []  # every value but the claim's own stands in the SQL

    database = connections.get("default")
    async with database.acquire_connection() as connection, connection.transaction():  # explained, never run
        await connection.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE lane_claim AS {sql}")
        plan = "\n".join(
            row[0]
            for row in await connection.fetch(
                "EXPLAIN EXECUTE lane_claim('owner', now() + interval '1 minute', now(), 4)"
            )
        )
        await connection.execute("DEALLOCATE lane_claim")

    assert "Index Scan using notifications_due_by_priority" in plan, plan
    assert "Sort" not in plan, plan  # the index gives the rows in due order


async def test_a_claim_filter_may_not_hold_a_time_made_from_the_claims_time(
    client, make_worker, database_server
):
    """Its statement is built once, with the claim's time as a parameter: another time computed
    from it would be frozen at the first claim, so building it is refused."""
    if database_server.kind != "postgres":
        pytest.skip("the one-statement claim is PostgreSQL's (SQLite claims in a transaction)")
    worker = make_worker()

    def earlier_than_now(now):
        return Q(next_attempt_at__lte=now - timedelta(seconds=1))

    with pytest.raises(ValueError, match="not a time made from it"):
        worker.queue._claim_statement(earlier_than_now, connections.get("default"))


async def _explain_prepared(connection, name: str, arguments: str) -> str:
    return "\n".join(row[0] for row in await connection.fetch(f"EXPLAIN EXECUTE {name}({arguments})"))


async def test_a_claim_planned_on_a_small_queue_finds_its_rows_by_key_once_the_queue_has_grown(
    client, make_worker, database_server
):
    """A claim planned while the queue was small reads the whole table for the rows it updates;
    once the queue holds twice what the planner believes, the worker's count renews the statistics,
    and the same prepared claim finds its rows by their key."""
    if database_server.kind != "postgres":
        pytest.skip("PostgreSQL's cached plans (SQLite plans every statement afresh)")
    [queued] = await _queue(client, 1, priority="bulk")
    database = connections.get("default")
    await database.execute_script('ANALYZE "notifications"')  # what a young deployment's autovacuum saw
    worker = make_worker(lanes=delivery_lanes(0.25))
    bulk = worker.lanes[1]
    sql, _ = worker.queue._claim_statement(worker._claimable_within(bulk.where), database)
    grown = 3000
    columns = [f'"{column}"' for column in Notification._meta.db_fields if column != "id"]
    arguments = "'owner', now() + interval '1 minute', now() - interval '1 day', 4"  # claims nothing

    async with database.acquire_connection() as connection:
        await connection.execute("SET plan_cache_mode = force_generic_plan")  # planned once, now
        await connection.execute(f"PREPARE bulk_claim AS {sql}")
        try:
            small = await _explain_prepared(connection, "bulk_claim", arguments)
            await database.execute_script(
                f'INSERT INTO "notifications" ("id", {", ".join(columns)}) '  # noqa: S608 - model's names
                f"SELECT id || '-' || n, {', '.join(columns)} FROM \"notifications\", "
                f"generate_series(1, {grown}) AS n WHERE id = '{queued}'"
            )
            stale = await _explain_prepared(connection, "bulk_claim", arguments)
            renewed = await worker.planner.rows_seen(grown)
            fresh = await _explain_prepared(connection, "bulk_claim", arguments)
            again = await PlannerStatistics("notifications").rows_seen(grown)  # asks the server anew
        finally:
            await connection.execute("DEALLOCATE bulk_claim")
            await connection.execute("RESET plan_cache_mode")

    assert "Seq Scan on notifications " in small, small
    assert "Seq Scan on notifications " in stale, stale  # the plan of the small queue, kept
    assert renewed
    assert "Seq Scan on notifications " not in fresh, fresh
    assert not again  # the planner knows the queue's size now


async def test_the_planner_is_left_alone_on_a_small_queue_and_on_sqlite(client, make_worker, database_server):
    worker = make_worker()

    assert not await worker.planner.rows_seen(10)
    if database_server.kind == "sqlite":
        assert not await worker.planner.rows_seen(1_000_000)


async def test_statistics_someone_else_is_renewing_are_left_to_them(
    client, make_worker, database_server, caplog
):
    """ANALYZE waits at most a moment for a table autovacuum (or another replica) is analysing:
    the worker's housekeeping, and the bulk claims behind it, do not wait for them to finish."""
    if database_server.kind != "postgres":
        pytest.skip("PostgreSQL's table locks")
    await _queue(client, 1, priority="bulk")
    database = connections.get("default")
    await database.execute_script('ANALYZE "notifications"')
    worker = make_worker()
    caplog.set_level(logging.INFO, logger="apikit.planner")

    async with database.acquire_connection() as holder, holder.transaction():
        await holder.execute('LOCK TABLE "notifications" IN SHARE UPDATE EXCLUSIVE MODE')  # as ANALYZE does
        async with asyncio.timeout(10):
            renewed = await worker.planner.rows_seen(5000)

    assert not renewed
    [told] = [record for record in caplog.records if record.name == "apikit.planner"]
    assert told.getMessage() == "planner statistics not renewed"
    assert told.error.startswith("LockNotAvailableError")


async def test_a_queue_that_drained_counts_its_next_burst_again(client, database_server, monkeypatch):
    """Tried once for a size, the planner's statistics are not tried again until the queue doubles,
    or until it drains (a retention purge, analysed while small) and a new burst comes."""
    if database_server.kind != "postgres":
        pytest.skip("PostgreSQL's statistics")
    planner = PlannerStatistics("notifications")
    looks: list[str] = []

    async def believed(_client):
        looks.append("looked")
        return 0.0  # whatever ANALYZE does: a table the planner keeps believing is empty

    monkeypatch.setattr(planner, "_believed", believed)
    tries = []
    for rows in (4000, 5000, 100, 4000):
        before = len(looks)
        await planner.rows_seen(rows)
        tries.append(len(looks) > before)

    assert tries == [True, False, False, True]


async def test_only_the_transactional_lanes_claims_are_urgent(client, make_worker):
    """On SQLite, where the one connection is taken in turns, they go before bulk work waiting."""
    worker = make_worker(lanes=delivery_lanes(0.25))
    seen: dict[str, bool] = {}
    claim = worker.claim

    async def noting_claim(limit, where=None):
        lane = next(lane.name for lane in worker.lanes if lane.where is where)
        seen[lane] = is_urgent()
        return await claim(limit, where)

    worker.claim = noting_claim
    await worker._claim_by_lane()

    assert seen == {"transactional": True, "bulk": False}


async def test_a_wake_up_for_one_lane_wakes_that_lane_alone(client, make_worker):
    worker = make_worker(lanes=delivery_lanes(0.25))

    def woken() -> dict[str, bool]:
        states = {lane: event.is_set() for lane, event in worker._wakeups.items()}
        for event in worker._wakeups.values():
            event.clear()
        return states

    worker.wake("bulk")
    assert woken() == {"transactional": False, "bulk": True}
    worker.wake("no-such-lane")  # not one of this worker's: every lane looks
    assert woken() == {"transactional": True, "bulk": True}
    worker.wake()
    assert woken() == {"transactional": True, "bulk": True}


async def test_a_new_notification_wakes_the_lane_of_its_priority(aiohttp_client, gateway_settings, pigeon):
    settings = gateway_settings.model_copy(update={"workers_enabled": True})
    running = await aiohttp_client(create_app(settings, extra_plugins=[("pigeon", pigeon)]))
    worker, lanes = running.app[WORKER], []
    wake = worker.wake

    def noting_wake(lane: str | None = None) -> None:
        lanes.append(lane)
        wake(lane)

    worker.wake = noting_wake

    for priority in ("bulk", "transactional"):
        assert (await notify(running, notify_body(priority=priority))).status == 202

    assert lanes == ["bulk", "transactional"]
