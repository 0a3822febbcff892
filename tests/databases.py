"""Real databases for tests: a migrated SQLite file per test, or one PostgreSQL database per run.

`TEST_DATABASE=postgres` selects PostgreSQL at `TEST_POSTGRES_URL` (default
postgres://postgres@127.0.0.1:5432/postgres). Each run creates its own
databases and drops them at the end; tests empty the tables between them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from apikit.database import migrate

ConfigFor = Callable[[str], dict[str, Any]]
MIGRATIONS_TABLE = "tortoise_migrations"


class SqliteServer:
    """Migrates a template file once per service, then hands each test its own copy."""

    kind = "sqlite"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.templates: dict[str, Path] = {}

    def database_url(self, service: str, config_for: ConfigFor, workdir: Path) -> str:
        if service not in self.templates:
            template = self.root / f"{service}-template.sqlite3"
            asyncio.run(migrate(config_for(f"sqlite://{template}")))
            self.templates[service] = template
        path = workdir / f"{service}.sqlite3"
        shutil.copyfile(self.templates[service], path)
        return f"sqlite://{path}"

    def close(self) -> None:
        pass


class PostgresServer:
    """Creates and migrates one database per service for this run; empties it before each test."""

    kind = "postgres"

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.run_id = uuid.uuid4().hex[:8]
        self.databases: dict[str, str] = {}

    def _url(self, name: str) -> str:
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(self.admin_url, timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def _empty(self, url: str) -> None:
        connection = await asyncpg.connect(url, timeout=5)
        try:
            tables = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1",
                MIGRATIONS_TABLE,
            )
            if tables:
                names = ", ".join(f'"{row["tablename"]}"' for row in tables)
                await connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()

    def database_url(self, service: str, config_for: ConfigFor, workdir: Path) -> str:
        if service not in self.databases:
            name = f"test_{service}_{self.run_id}"
            asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
            self.databases[service] = self._url(name)
            asyncio.run(migrate(config_for(self.databases[service])))
        url = self.databases[service]
        asyncio.run(self._empty(url))
        return url

    def close(self) -> None:
        for url in self.databases.values():
            name = url.rsplit("/", 1)[1]
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def open_server(tmp_root: Path) -> SqliteServer | PostgresServer:
    """The database server this run uses; skips (or fails, when CI=true) if PostgreSQL is missing."""
    if os.environ.get("TEST_DATABASE", "sqlite") != "postgres":
        return SqliteServer(tmp_root)
    admin_url = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        asyncio.run(PostgresServer(admin_url)._admin("SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        reason = f"PostgreSQL is not reachable at {admin_url}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (CI=true: a missing database is a failure, not a skip)")
        pytest.skip(reason)
    return PostgresServer(admin_url)
