"""An UPDATE of plain columns by equal keys, with its SQL written once per shape instead of on every call.

Profiling the queue workers under a steady trickle of work showed tortoise's
`filter(...).update(...)` at a tenth of their CPU: resolving `Q` objects and
pypika building the same `UPDATE ... WHERE "id"=$1 AND "lease_owner"=$2` at
every finish of a leased row. `Update` writes that statement once for each set
of column names (and dialect), then sends it with the new values, converted by
each field's `to_db_value` exactly as tortoise's `update` converts them.

Only plain columns are written and only equality (or `IS NULL`) is matched:
foreign keys, expressions and lookups such as `__in` stay with tortoise.
"""

from __future__ import annotations

import itertools
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from apikit.database import in_dialect


class Update:
    """`await Update(Row).run(connection, {"id": 1, "lease_owner": "w:1"}, status="sent")`, like
    `Row.filter(id=1, lease_owner="w:1").using_db(connection).update(status="sent")`: the number
    of rows changed."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self._statements: dict[tuple[str, tuple[str, ...], tuple[tuple[str, bool], ...]], str] = {}

    def _column(self, name: str, *, written: bool = False) -> str:
        meta = self.model._meta
        if name not in meta.fields_db_projection:
            raise TypeError(f"{self.model.__name__} has no plain column {name!r}")
        if written and (meta.fields_map[name].pk or meta.fields_map[name].generated):
            raise TypeError(f"{self.model.__name__}.{name} is the key or generated: it is never updated")
        return meta.fields_db_projection[name]

    def _statement(
        self, db: BaseDBAsyncClient, names: tuple[str, ...], keys: tuple[tuple[str, bool], ...]
    ) -> str:
        shape = (db.capabilities.dialect, names, keys)
        if (sql := self._statements.get(shape)) is not None:
            return sql
        numbers = itertools.count(1)
        assignments = ", ".join(f'"{self._column(name, written=True)}" = ${next(numbers)}' for name in names)
        matches = " AND ".join(
            f'"{self._column(name)}" IS NULL' if is_null else f'"{self._column(name)}" = ${next(numbers)}'
            for name, is_null in keys
        )
        table = self.model._meta.db_table
        # Only the model's own table and column names are written into the SQL; values are parameters.
        update = f'UPDATE "{table}" SET {assignments} WHERE {matches}'  # noqa: S608
        sql = self._statements[shape] = in_dialect(update, db)
        return sql

    async def run(self, connection: BaseDBAsyncClient | None, where: dict[str, Any], **values: Any) -> int:
        """Set `values` on the rows whose columns equal `where`'s (None: IS NULL), on `connection`
        (the caller's transaction) or the model's database; how many rows changed."""
        if not values or not where:
            raise TypeError("an update names at least one column to set and one to match")
        db = connection or self.model._choose_db(True)
        keys = tuple((name, value is None) for name, value in where.items())
        sql = self._statement(db, tuple(values), keys)
        fields = self.model._meta.fields_map
        params = [fields[name].to_db_value(value, None) for name, value in values.items()]
        params += [
            fields[name].to_db_value(value, None) for name, value in where.items() if value is not None
        ]
        changed, _ = await db.execute_query(sql, params)
        return changed
