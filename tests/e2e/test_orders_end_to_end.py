"""The whole system as real processes: orders service, gateway, provider sandbox.

An order reaches its user through the right channel exactly once, whether the
gateway is up, down, or failing for a while.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import pytest

from tests.e2e.conftest import ADMIN, SHIPPING, wait_until
from tests.e2e.proxy import FaultyProxy
from tests.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow


async def place(http, system, user_id: str, kit: str, **extra) -> dict:
    body = {"user_id": user_id, "sequencing_type": kit, "shipping_info": SHIPPING} | extra
    async with http.post(f"{system.orders.url}/orders", json=body, headers=ADMIN) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def order_status(http, system, order_id: str) -> dict:
    async with http.get(f"{system.orders.url}/orders/{order_id}", headers=ADMIN) as response:
        return (await response.json())["notification"]


async def _until_delivered(http, system, order_id: str) -> dict:
    seen: dict = {}

    async def delivered() -> bool:
        seen.update(await order_status(http, system, order_id))
        return seen["status"] == "delivered"

    await wait_until(delivered, f"order {order_id} to show its notification delivered")
    return seen


@pytest.mark.parametrize(
    ("user_id", "kit", "channel", "recipient"),
    [
        ("u_ada", "whole-exome-sequencing", "sms", "+447451277972"),
        ("u_ada", "whole-genome-sequencing", "email", "ada@example.com"),
        ("u_ada", "targeted-sequencing", "email", "ada@example.com"),
        ("u_grace", "whole-exome-sequencing", "email", "grace@example.com"),  # no phone: e-mail
    ],
)
async def test_each_kit_reaches_the_right_provider(http, system, provider, user_id, kit, channel, recipient):
    order = await place(http, system, user_id, kit)

    notification = await _until_delivered(http, system, order["id"])

    assert notification["channel"] == channel
    assert notification["id"].startswith("ntf_")
    [message] = await provider.messages(channel)
    assert message["recipient"] == recipient
    name = {"u_ada": "Ada Lovelace", "u_grace": "Grace Hopper"}[user_id]
    assert (
        message["message"] == f"Hi {name}, your order has been successfully placed. Reference: {order['id']}."
    )
    assert [r["outcome"] for r in await provider.requests(channel)] == ["accepted"]  # token and payload right


async def test_an_explicit_channel_and_the_push_plugin(http, system, provider):
    by_email = await place(http, system, "u_ada", "whole-exome-sequencing", notification_channel="email")
    by_push = await place(http, system, "u_alan", "targeted-sequencing", notification_channel="push")

    await _until_delivered(http, system, by_email["id"])
    await _until_delivered(http, system, by_push["id"])

    assert [m["recipient"] for m in await provider.messages("email")] == ["ada@example.com"]
    assert await provider.messages("sms") == []
    [push] = await provider.messages("push")
    assert push["recipient"] == "alan-kit-updates"
    assert push["message"].startswith("Hi Alan Turing, your order has been successfully placed.")


async def test_a_refused_order_writes_and_sends_nothing(http, system, provider):
    body = {"user_id": "u_grace", "sequencing_type": "targeted-sequencing", "shipping_info": SHIPPING}
    async with http.post(
        f"{system.orders.url}/orders", json=body | {"notification_channel": "sms"}, headers=ADMIN
    ) as response:
        assert response.status == 422
    await place(http, system, "u_ada", "targeted-sequencing")  # a marker that the pipeline is flowing

    await wait_until(lambda: _count(provider, "email", 1), "the marker order's e-mail")

    assert await provider.messages("sms") == []
    async with http.get(f"{system.orders.url}/users/u_grace", headers=ADMIN) as response:
        assert (await response.json())["orders"] == []


async def _count(provider, channel: str, expected: int) -> bool:
    return len(await provider.messages(channel)) >= expected


async def test_orders_placed_while_the_gateway_is_down_all_arrive_once(http, system, provider):
    system.gateway.stop()
    orders = await asyncio.gather(*(place(http, system, "u_ada", "targeted-sequencing") for _ in range(100)))
    await asyncio.sleep(1)  # the relay is failing and backing off meanwhile

    system.gateway.start()
    await wait_until(lambda: _count(provider, "email", 100), "100 e-mails after the gateway came back")
    await asyncio.sleep(1)  # room for a duplicate to show up, if there were one

    counts = Counter(m["message"].rsplit("Reference: ", 1)[1] for m in await provider.messages("email"))
    assert set(counts) == {f"{order['id']}." for order in orders}
    assert max(counts.values()) == 1
    for order in orders[:5]:
        await _until_delivered(http, system, order["id"])


async def test_the_relay_catches_up_after_a_spell_of_500s(http, unstarted_system, provider):
    system = unstarted_system
    proxy = FaultyProxy(system.gateway.url)
    await proxy.start()
    system.orders.env["ORDERS_GATEWAY_URL"] = proxy.url
    proxy.failing_status = 500
    system.start()
    try:
        orders = [await place(http, system, "u_ada", "whole-genome-sequencing") for _ in range(20)]
        await wait_until(lambda: _failed_at_least(proxy, 20), "the relay to meet the failing gateway")
        proxy.failing_status = None

        await wait_until(lambda: _count(provider, "email", 20), "20 e-mails after the 500s stopped")

        counts = Counter(m["message"] for m in await provider.messages("email"))
        assert len(counts) == 20
        assert max(counts.values()) == 1
        assert proxy.failed >= 20
        await _until_delivered(http, system, orders[-1]["id"])
    finally:
        system.stop()
        await proxy.stop()


async def _failed_at_least(proxy: FaultyProxy, count: int) -> bool:
    return proxy.failed >= count


async def test_two_orders_processes_on_postgresql_relay_each_row_once(
    http, unstarted_system, provider, database_server
):
    if database_server.kind != "postgres":
        pytest.skip(
            "several orders-service processes share an outbox on PostgreSQL only (SQLite: one process)"
        )
    system = unstarted_system
    second_port = free_port()
    second = ServiceProcess(
        "orders_service",
        system.orders_env | {"ORDERS_PORT": str(second_port)},
        second_port,
        system.orders.log_path.with_name("orders-2.log"),
    )
    system.gateway.start()
    system.orders.run("seed")
    system.orders.start()
    second.start()
    try:
        orders = []
        for _ in range(10):
            orders += await asyncio.gather(
                *(
                    place(http, (system, _Via(second))[n % 2], "u_ada", "targeted-sequencing")
                    for n in range(20)
                )
            )

        await wait_until(lambda: _count(provider, "email", 200), "200 e-mails relayed by two processes")
        await asyncio.sleep(1)

        counts = Counter(m["message"].rsplit("Reference: ", 1)[1] for m in await provider.messages("email"))
        assert set(counts) == {f"{order['id']}." for order in orders}
        assert max(counts.values()) == 1
    finally:
        second.stop()
        system.stop()


class _Via:
    """Places orders through another orders-service process of the same system."""

    def __init__(self, orders: ServiceProcess) -> None:
        self.orders = orders


async def test_a_relay_in_its_own_process_hears_of_each_order_and_of_orders_after_losing_its_listener(
    http, unstarted_system, provider, database_server
):
    """The API process relays nothing; the relay process polls once a minute, so each order that
    arrives well within the minute was announced by PostgreSQL."""
    if database_server.kind != "postgres":
        pytest.skip("NOTIFY is PostgreSQL's; on SQLite one process serves and relays")
    system = unstarted_system
    relay_port = free_port()
    relay = ServiceProcess(
        "orders_service",
        system.orders_env | {"ORDERS_PORT": str(relay_port), "ORDERS_RELAY_POLL_SECONDS": "60"},
        relay_port,
        system.orders.log_path.with_name("relay.log"),
    )
    system.orders.env = system.orders_env | {"ORDERS_RELAY_ENABLED": "false"}
    database = system.orders_env["ORDERS_DATABASE_URL"]
    system.start()
    relay.start()
    try:
        await wait_until(lambda: _has_listener(database, other_than=None), "the relay to listen")
        await place(http, system, "u_ada", "targeted-sequencing")
        await wait_until(lambda: _count(provider, "email", 1), "the first order's e-mail", within=30)

        first_listener = await _listener_pid(database)
        await _terminate(database, first_listener)
        await wait_until(
            lambda: _has_listener(database, other_than=first_listener), "the relay to listen again"
        )
        await place(http, system, "u_ada", "targeted-sequencing")
        await wait_until(lambda: _count(provider, "email", 2), "the second order's e-mail", within=30)

        assert relay.process.poll() is None
        lost = "not listening for outbox_messages notifications"
        assert relay.log_path.read_text().count(lost) == 1
    finally:
        relay.stop()
        system.stop()


LISTENERS = "SELECT pid FROM pg_stat_activity WHERE application_name = 'outbox_messages listener'"


async def _listener_pid(database: str) -> int | None:
    connection = await asyncpg.connect(database)
    try:
        return await connection.fetchval(LISTENERS + " AND datname = current_database()")
    finally:
        await connection.close()


async def _has_listener(database: str, *, other_than: int | None) -> bool:
    return (await _listener_pid(database)) not in (None, other_than)


async def _terminate(database: str, pid: int) -> None:
    connection = await asyncpg.connect(database)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()
