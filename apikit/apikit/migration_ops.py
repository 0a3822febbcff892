"""Migration operations tortoise lacks.

`AlterChoices` records that an enum column gained values (its description lists
them) without touching the database: the column's type and length stay the same,
and on SQLite tortoise would otherwise rebuild the whole table, which fails on
the foreign keys of rows referring to it.
"""

from __future__ import annotations

from typing import Any

from tortoise.migrations import operations as ops


class AlterChoices(ops.AlterField):
    """An `AlterField` for an enum column whose values grew; the schema is unchanged."""

    def describe(self) -> str:
        return f"Alter the choices of {self.name} on {self.model_name}"

    async def database_forward(self, *args: Any, **kwargs: Any) -> None:
        return None

    async def database_backward(self, *args: Any, **kwargs: Any) -> None:
        return None
