"""Migration operations the ORM does not offer."""

from __future__ import annotations

from typing import Any

from tortoise.migrations import operations as ops


class AlterEnumMembers(ops.AlterField):
    """A `CharEnumField` gained or lost members: the migration state changes, the table does not.

    The column stays a VARCHAR of the same length, so nothing needs to run on the database. A plain
    `AlterField` rebuilds the table on SQLite, and that fails as soon as rows of another table
    refer to it (the old table cannot be dropped under their foreign keys).
    """

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None
