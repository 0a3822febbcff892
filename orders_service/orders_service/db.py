"""Where the orders service keeps its data, and how its schema is migrated."""

from __future__ import annotations

from typing import Any

from apikit.database import tortoise_config

MODELS = "orders_service.models"
MIGRATIONS = "orders_service.migrations"


def orders_tortoise_config(database_url: str) -> dict[str, Any]:
    return tortoise_config(database_url, models=MODELS, migrations=MIGRATIONS)


# For authoring migrations only (`tortoise -c orders_service.db.AUTHORING makemigrations`):
# the autodetector compares models with migration files and needs no real database.
AUTHORING = orders_tortoise_config("sqlite://:memory:")
