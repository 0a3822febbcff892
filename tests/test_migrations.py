"""Each service's committed migrations describe its models exactly."""

from __future__ import annotations

import uuid

import pytest
from tortoise import Tortoise, connections
from tortoise.context import TortoiseContext
from tortoise.migrations import api as migrations_api
from tortoise.migrations.autodetector import MigrationAutodetector

from notification_gateway.db import AUTHORING as GATEWAY
from orders_service.db import AUTHORING as ORDERS
from orders_service.db import orders_tortoise_config


@pytest.mark.parametrize("config", [ORDERS, GATEWAY], ids=["orders", "gateway"])
async def test_no_model_change_is_missing_a_migration(config):
    async with TortoiseContext() as context:
        await context.init(config=config)
        changes = await MigrationAutodetector(context.apps, config["apps"]).changes()

    assert changes == [], "run `make migrations` and commit the new migration"


# Rows as the orders service wrote them before 0003: the outbox named its order in `subject`.
BEFORE_0003 = (
    "INSERT INTO users (id, name, email, contacts, created_at, updated_at)"
    " VALUES ('u_1', 'Ada', 'ada@example.com', '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO dna_kit_orders (id, user_id, sequencing_type, shipping_info, status, notification_status,"
    " created_at, updated_at) VALUES ('ord_1', 'u_1', 'genotyping-array', '{}', 'placed', 'queued',"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO outbox_messages (id, subject, payload, status, attempts, next_attempt_at, gateway_id,"
    " created_at) VALUES"
    " ('obx_1', 'order:ord_1', '{}', 'sent', 1, CURRENT_TIMESTAMP, 'ntf_1', CURRENT_TIMESTAMP),"
    " ('obx_2', NULL, '{}', 'pending', 0, CURRENT_TIMESTAMP, NULL, CURRENT_TIMESTAMP)",
)


async def _scratch_database(database_server, tmp_path) -> str:
    if database_server.kind == "sqlite":
        return f"sqlite://{tmp_path / 'orders.sqlite3'}"
    name = f"test_migration_{uuid.uuid4().hex[:8]}"
    await database_server._admin(f'CREATE DATABASE "{name}"')
    return database_server._url(name)


async def test_outbox_rows_written_before_0003_refer_to_their_order_after_it(database_server, tmp_path):
    config = orders_tortoise_config(await _scratch_database(database_server, tmp_path))
    try:
        await migrations_api.migrate(config=config, target="models.0002_outbox_and_contacts")
        for statement in BEFORE_0003:
            await connections.get("default").execute_script(statement)
        await migrations_api.migrate(config=config)

        _, rows = await connections.get("default").execute_query(
            "SELECT id, order_id, notification_id FROM outbox_messages ORDER BY id"
        )
    finally:
        await Tortoise.close_connections()
        if database_server.kind == "postgres":
            name = config["connections"]["default"].rsplit("/", 1)[1]
            await database_server._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert [tuple(dict(row).values()) for row in rows] == [("obx_1", "ord_1", "ntf_1"), ("obx_2", None, None)]
