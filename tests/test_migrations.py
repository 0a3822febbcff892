"""Each service's committed migrations describe its models exactly."""

from __future__ import annotations

import uuid

import pytest
from tortoise import Tortoise, connections
from tortoise.context import TortoiseContext
from tortoise.migrations import api as migrations_api
from tortoise.migrations.autodetector import MigrationAutodetector

from notification_gateway.db import AUTHORING as GATEWAY
from notification_gateway.db import gateway_tortoise_config
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
        return f"sqlite://{tmp_path / 'scratch.sqlite3'}"
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


# Rows as the gateway wrote them before 0006: `delivered` meant the provider accepted the message.
BEFORE_0006 = (
    "INSERT INTO notifications (id, caller, recipient_id, recipient, message, attributes, channel,"
    " fallback_channels, status, attempt_count, attempts_on_channel, next_attempt_at, created_at,"
    " updated_at) VALUES"
    " ('ntf_1', 'orders', 'u_1', '{}', 'Hi', '{}', 'sms', '[]', 'delivered', 1, 1, CURRENT_TIMESTAMP,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),"
    " ('ntf_2', 'orders', 'u_1', '{}', 'Hi', '{}', 'sms', '[]', 'failed', 1, 1, CURRENT_TIMESTAMP,"
    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO delivery_attempts (notification_id, number, channel, outcome, started_at, duration_ms)"
    " VALUES ('ntf_1', 1, 'sms', 'delivered', CURRENT_TIMESTAMP, 1.0),"
    " ('ntf_2', 1, 'sms', 'permanent', CURRENT_TIMESTAMP, 1.0)",
)


async def test_notifications_delivered_before_0006_are_sent_after_it(database_server, tmp_path):
    config = gateway_tortoise_config(await _scratch_database(database_server, tmp_path))
    try:
        await migrations_api.migrate(config=config, target="models.0003_recipient_address_key")
        for statement in BEFORE_0006:
            await connections.get("default").execute_script(statement)
        await migrations_api.migrate(config=config)

        _, notifications = await connections.get("default").execute_query(
            "SELECT id, status, event_count FROM notifications ORDER BY id"
        )
        _, attempts = await connections.get("default").execute_query(
            "SELECT notification_id, outcome FROM delivery_attempts ORDER BY notification_id"
        )
    finally:
        await Tortoise.close_connections()
        if database_server.kind == "postgres":
            name = config["connections"]["default"].rsplit("/", 1)[1]
            await database_server._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert [tuple(dict(row).values()) for row in notifications] == [
        ("ntf_1", "sent", 0),
        ("ntf_2", "failed", 0),
    ]
    assert [tuple(dict(row).values()) for row in attempts] == [("ntf_1", "sent"), ("ntf_2", "permanent")]
