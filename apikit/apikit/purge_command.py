"""The `purge [--dry-run]` command both services offer: one purge run, by hand or from a scheduler."""

from __future__ import annotations

import json
from typing import Any

from tortoise import Tortoise

from apikit.database import ensure_sqlite_directory
from apikit.purge import Purger


async def run_purge(config: dict[str, Any], purger: Purger, *, dry_run: bool) -> str:
    """One line of JSON: the rows removed (or that would be) per table, or why nothing was done."""
    ensure_sqlite_directory(config["connections"]["default"])
    await Tortoise.init(config=config)
    try:
        counts = await purger.run_once(dry_run=dry_run)
    finally:
        await Tortoise.close_connections()
    if counts is None:
        return json.dumps({"skipped": "another process holds the purge lease"})
    return json.dumps({"dry_run": dry_run, "rows": counts})
