"""The relay hears of new outbox rows from PostgreSQL at once, and polls for what it did not hear.

Each test that shows a wake-up gives the relay a ten-minute poll and waits for it to have looked
and found nothing before writing the row: from then on, only a notification can make it look
again in time.
"""

from __future__ import annotations

import asyncio
import logging
import random

import aiohttp
import asyncpg
import pytest

from apikit.backoff import Backoff
from apikit.wakeups import Announcer, Listener, announcing, connector, listening
from orders_service.gateway import GatewayClient
from orders_service.lifecycle import OutboxStatus
from orders_service.models import OutboxMessage
from orders_service.relay import OUTBOX_CHANNEL, OutboxRelay
from tests.conftest import GATEWAY_TOKEN
from tests.e2e.conftest import wait_until
from tests.orders_service.conftest import place

LONG_POLL_SECONDS = 600.0
WITHIN_SECONDS = 30.0  # far below the poll: waiting this long is a bound, not a measure


class WatchedRelay(OutboxRelay):
    """The real relay, which also says when it last looked and found nothing: it then sleeps until
    woken or until its poll."""

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.found_nothing = asyncio.Event()
        self.claims = 0

    async def claim(self, limit, where=None):
        rows = await super().claim(limit, where)
        self.claims += 1
        if rows:
            self.found_nothing.clear()
        else:
            self.found_nothing.set()
        return rows


@pytest.fixture
def on_postgres(database_server) -> None:
    if database_server.kind != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite the relay polls (and is woken in its own process)")


@pytest.fixture
async def start_relay(gateway_process):
    """Start the relay (and, if asked, a listener for it) in the background; both stop afterwards,
    the relay as the app stops it."""
    relays: list[tuple[WatchedRelay, asyncio.Task]] = []
    listeners: list[asyncio.Task] = []
    async with aiohttp.ClientSession() as session:

        def start(poll_seconds: float, listener_connect=None) -> tuple[WatchedRelay, Listener | None]:
            relay = WatchedRelay(
                gateway=GatewayClient(
                    session, gateway_url=gateway_process.url, token=GATEWAY_TOKEN, timeout_seconds=5
                ),
                backoff=Backoff(base_seconds=1, max_seconds=8),
                concurrency=4,
                lease_seconds=30,
                poll_seconds=poll_seconds,
            )
            listener = None
            if listener_connect is not None:
                listener = Listener(
                    listener_connect,
                    OUTBOX_CHANNEL,
                    relay.wake,
                    backoff=Backoff(base_seconds=0.05, max_seconds=0.2),
                    rng=random.Random(7),
                )
                listeners.append(asyncio.create_task(listener.run()))
            relays.append((relay, asyncio.create_task(relay.run())))
            return relay, listener

        yield start
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        for relay, task in relays:
            await relay.stop(task, grace_seconds=5)


async def until_sent(count: int = 1) -> None:
    async def sent() -> bool:
        return await OutboxMessage.filter(status=OutboxStatus.SENT).count() == count

    await wait_until(sent, f"{count} outbox row(s) handed to the gateway", within=WITHIN_SECONDS)


async def idle(relay: WatchedRelay, listener: Listener) -> None:
    """Until the listener listens and, after that, the relay has looked and found nothing."""
    await asyncio.wait_for(listener.listening.wait(), WITHIN_SECONDS)
    relay.found_nothing.clear()
    relay.wake()  # the listener's own wake-up on connecting may have come before the relay started
    await asyncio.wait_for(relay.found_nothing.wait(), WITHIN_SECONDS)


async def test_a_new_row_wakes_a_relay_in_another_process_at_once(on_postgres, client, ada, start_relay):
    relay, listener = start_relay(LONG_POLL_SECONDS, connector(OUTBOX_CHANNEL))
    await idle(relay, listener)

    # The app under test runs no relay of its own: nothing in this process wakes `relay` directly.
    assert (await place(client)).status == 201

    await until_sent()


async def test_after_its_connection_is_killed_the_listener_comes_back_and_still_wakes_the_relay(
    on_postgres, client, ada, start_relay, orders_database_url, caplog
):
    relay, listener = start_relay(LONG_POLL_SECONDS, connector(OUTBOX_CHANNEL))
    await idle(relay, listener)
    killed = listener.server_pid

    with caplog.at_level(logging.INFO, logger="apikit.wakeups"):
        terminator = await asyncpg.connect(orders_database_url)
        try:
            assert await terminator.fetchval("SELECT pg_terminate_backend($1)", killed)
        finally:
            await terminator.close()
        await wait_until(
            lambda: _listening_again(listener, killed), "the listener to reconnect", within=WITHIN_SECONDS
        )
    await idle(relay, listener)

    assert (await place(client)).status == 201

    await until_sent()
    messages = [record.getMessage() for record in caplog.records if record.name == "apikit.wakeups"]
    assert messages == [
        "not listening for outbox_messages notifications; polling until reconnected",
        "listening for outbox_messages notifications again",
    ]


async def test_the_poll_still_hands_over_rows_nobody_was_told_of(
    on_postgres, client, ada, start_relay, caplog
):
    attempts = []

    async def unreachable():
        attempts.append(True)
        raise ConnectionRefusedError("nothing listens there")

    with caplog.at_level(logging.WARNING, logger="apikit.wakeups"):
        _relay, listener = start_relay(0.05, unreachable)
        await wait_until(_at_least(attempts, 3), "three tries to connect", within=WITHIN_SECONDS)

        assert (await place(client)).status == 201

        await until_sent()
    assert not listener.listening.is_set()
    assert [record.getMessage() for record in caplog.records if record.name == "apikit.wakeups"] == [
        "not listening for outbox_messages notifications; polling until reconnected"
    ]


async def test_a_burst_of_commits_is_announced_by_one_notify_sent_after_them(
    on_postgres, client, orders_database_url
):
    heard: list[str] = []
    listener = await asyncpg.connect(orders_database_url)
    await listener.add_listener(OUTBOX_CHANNEL, lambda _c, _pid, _channel, payload: heard.append(payload))
    try:
        announcer = Announcer(OUTBOX_CHANNEL)
        for _ in range(50):  # fifty requests finishing their commits together
            announcer.announce()
        await wait_until(_at_least(heard, 1), "the announcement", within=WITHIN_SECONDS)
        # Delivered in commit order: once this one is heard, every earlier NOTIFY has been too.
        await listener.execute(f"NOTIFY {OUTBOX_CHANNEL}, 'end'")
        await wait_until(_at_least(heard, 2), "the closing notification", within=WITHIN_SECONDS)
        await announcer.close()
    finally:
        await listener.close()

    assert heard == ["", "end"]


async def test_on_sqlite_nothing_announces_or_listens_and_the_relay_polls(
    database_server, client, ada, start_relay
):
    if database_server.kind != "sqlite":
        pytest.skip("SQLite's behaviour")
    async with listening(OUTBOX_CHANNEL, lambda: None) as listener, announcing(OUTBOX_CHANNEL) as announcer:
        assert (listener, announcer) == (None, None)
    start_relay(0.05)

    assert (await place(client)).status == 201

    await until_sent()


def _at_least(items: list, count: int):
    async def check() -> bool:
        return len(items) >= count

    return check


async def _listening_again(listener: Listener, killed: int) -> bool:
    return listener.listening.is_set() and listener.server_pid not in (None, killed)
