"""How the running service talks to its database: no per-release reset on PostgreSQL, one BEGIN
per transaction on SQLite, and `PRAGMA synchronous` FULL unless ORDERS_SQLITE_SYNCHRONOUS opts in."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from tortoise import connections
from tortoise.exceptions import MultipleObjectsReturned

from apikit.database import _keep_session, serving_connection, transaction
from apikit.lookups import Lookup
from orders_service.app import create_app
from orders_service.models import User
from orders_service.settings import OrdersSettings
from tests.orders_service.conftest import ADMIN, order_body


def test_each_database_gets_its_serving_connection():
    postgres = serving_connection("postgres://postgres@127.0.0.1:5432/orders")
    assert postgres["engine"] == "tortoise.backends.asyncpg"
    assert postgres["credentials"]["reset"] is _keep_session
    sqlite = serving_connection("sqlite:///tmp/orders.sqlite3")
    assert sqlite["engine"] == "apikit.sqlite_client"
    assert sqlite["credentials"]["synchronous"] == "FULL"
    assert (
        serving_connection("sqlite:///tmp/o.sqlite3", sqlite_synchronous="NORMAL")["credentials"][
            "synchronous"
        ]
        == "NORMAL"
    )
    with pytest.raises(ValueError, match="synchronous"):
        serving_connection("sqlite:///tmp/o.sqlite3", sqlite_synchronous="OFF")


async def test_orders_are_placed_through_the_serving_connection(client, ada, database_server):
    answer = await client.post("/orders", json=order_body(), headers=ADMIN)
    assert answer.status == 201
    db = connections.get("default")
    if database_server.kind == "postgres":
        assert db._pool._reset is _keep_session
    else:
        assert type(db).__module__ == "apikit.sqlite_client"


async def test_a_pooled_connection_handed_back_mid_transaction_is_still_rolled_back(client, database_server):
    if database_server.kind != "postgres":
        pytest.skip("PostgreSQL's pool")
    await User.exists(id="u_half")  # opens the pool
    pool = connections.get("default")._pool
    async with pool.acquire() as connection:
        transaction_ = connection.transaction()
        await transaction_.start()
        await connection.execute(
            "INSERT INTO users (id, name, email, contacts, search_text, created_at, "
            "updated_at) VALUES ('u_half', 'Half', 'h@example.com', '{}', '', now(), now())"
        )
    assert not await User.exists(id="u_half")


async def test_a_sqlite_transaction_is_one_begin_and_one_commit(client, database_server):
    if database_server.kind != "sqlite":
        pytest.skip("SQLite's client")
    db = connections.get("default")
    await User.exists(id="u_one")  # opens the connection
    raw = db._connection
    commits = 0
    original_commit = raw.commit

    async def counting_commit():
        nonlocal commits
        commits += 1
        await original_commit()

    statements: list[str] = []
    await raw.set_trace_callback(statements.append)
    raw.commit = counting_commit
    try:
        async with transaction() as connection:
            await User.create(using_db=connection, id="u_one", name="One", email="one@example.com")
    finally:
        raw.commit = original_commit
        await raw.set_trace_callback(None)
    assert statements[0] == "BEGIN"
    assert statements[-1] == "COMMIT"
    assert commits == 1
    assert await User.exists(id="u_one")


async def test_sqlite_synchronous_is_full_unless_normal_is_chosen(aiohttp_client, orders_settings):
    if not orders_settings.database_url.startswith("sqlite://"):
        pytest.skip("SQLite's setting")
    for chosen, expected in (("FULL", 2), ("NORMAL", 1)):
        settings = orders_settings.model_copy(update={"sqlite_synchronous": chosen})
        client = await aiohttp_client(create_app(settings))
        _, rows = await connections.get("default").execute_query("PRAGMA synchronous")
        assert rows[0][0] == expected
        await client.close()


def test_synchronous_is_refused_for_postgresql_and_unknown_values(orders_settings):
    base = orders_settings.model_dump(by_alias=True) | {"APP_ENV": "development"}
    with pytest.raises(ValidationError, match="ORDERS_SQLITE_SYNCHRONOUS applies to SQLite only"):
        OrdersSettings(
            **base | {"ORDERS_DATABASE_URL": "postgres://p@h/d", "ORDERS_SQLITE_SYNCHRONOUS": "NORMAL"}
        )
    with pytest.raises(ValidationError, match="ORDERS_SQLITE_SYNCHRONOUS"):
        OrdersSettings(**base | {"ORDERS_SQLITE_SYNCHRONOUS": "OFF"})


async def test_a_static_lookup_reads_what_the_orm_reads(client, ada):
    lookup = Lookup(User, "id")
    for _ in range(2):  # the second call reuses the SQL written by the first
        found = await lookup.get_or_none("u_ada")
        expected = await User.get(id="u_ada")
        assert {name: getattr(found, name) for name in User._meta.db_fields} == {
            name: getattr(expected, name) for name in User._meta.db_fields
        }
    assert await lookup.get_or_none("u_nobody") is None
    assert await lookup.get_or_none('it\'s "quoted"; --') is None


async def test_a_static_lookup_by_a_column_that_is_not_unique_refuses_two_rows(client, ada):
    await User.create(id="u_ada_2", name="Ada Lovelace", email="ada@example.com")
    with pytest.raises(MultipleObjectsReturned):
        await Lookup(User, "email").get_or_none("ada@example.com")
