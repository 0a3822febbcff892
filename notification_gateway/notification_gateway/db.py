"""Where the gateway keeps its queue, and how its schema is migrated."""

from __future__ import annotations

from typing import Any

from apikit.database import tortoise_config

MODELS = "notification_gateway.models"
MIGRATIONS = "notification_gateway.migrations"


def gateway_tortoise_config(database_url: str) -> dict[str, Any]:
    return tortoise_config(database_url, models=MODELS, migrations=MIGRATIONS)


# For authoring migrations only (`make migrations`); needs no real database.
AUTHORING = gateway_tortoise_config("sqlite://:memory:")
