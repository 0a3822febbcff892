"""Each service's committed migrations describe its models exactly."""

from __future__ import annotations

import pytest
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from notification_gateway.db import AUTHORING as GATEWAY
from orders_service.db import AUTHORING as ORDERS


@pytest.mark.parametrize("config", [ORDERS, GATEWAY], ids=["orders", "gateway"])
async def test_no_model_change_is_missing_a_migration(config):
    async with TortoiseContext() as context:
        await context.init(config=config)
        changes = await MigrationAutodetector(context.apps, config["apps"]).changes()

    assert changes == [], "run `make migrations` and commit the new migration"
