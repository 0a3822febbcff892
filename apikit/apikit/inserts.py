"""A row inserted with the INSERT tortoise writes once per dialect, without `Model.create`'s per-call work.

Profiling `POST /orders` showed `Model.create` for its three inserts at a quarter
of the request's Python CPU: building the instance through `__setattr__`,
`save`'s checks, a new executor and the save signals, on every call.
`Insert` takes tortoise's own INSERT statement and column list (its
executor's, so quoting, placeholders and `RETURNING` stay tortoise's), fills
every column from the caller's values or the field's default the way
`Model.__init__` does, converts each with the field's `to_db_value` (JSON,
enums, `auto_now` timestamps) and hands back the instance a select would make.
The columns come from the model, so a new field is written with its default;
one without a default that the caller does not give is refused, not left out.
Save signals are not sent: use `Model.create` for a model that has listeners.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import BaseExecutor
from tortoise.fields import DatetimeField, Field
from tortoise.models import Model

M = TypeVar("M", bound=Model)
_IMMUTABLE = (int, float, str, bool, bytes, type(None))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    columns: list[str]  # field names, in the statement's order
    defaults: dict[str, Callable[[], Any] | None]  # every given field's, None if it must be given
    unset: dict[str, None]  # every db column: the instance is made empty, then filled as given
    executor: BaseExecutor  # reads the generated key back the dialect's way


def _default_of(field: Field) -> Callable[[], Any] | None:
    """How `Model.__init__` fills the field when it is not given; None when it must be given."""
    default = field.default
    if callable(default):
        return default
    if default is not None:
        return (lambda: default) if isinstance(default, _IMMUTABLE) else (lambda: copy.deepcopy(default))
    if field.null or (isinstance(field, DatetimeField) and (field.auto_now or field.auto_now_add)):
        return lambda: None  # NULL, or the timestamp `to_db_value` sets
    return None


class Insert(Generic[M]):
    """`await Insert(Order).create(connection, user_id=...)`: like `Order.create(using_db=connection, ...)`.

    Values are given by field name (`user_id`, not `user`); an unknown name is an error."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, db: BaseDBAsyncClient) -> _Compiled:
        """Read the model once tortoise has set it up (foreign keys get their `_id` field then)."""
        meta = self.model._meta
        defaults: dict[str, Callable[[], Any] | None] = {}
        for name in meta.fields_db_projection:
            field = meta.fields_map[name]
            only_in_database = field.default is None and field.has_db_default()
            if inspect.iscoroutinefunction(field.default) or only_in_database:
                raise TypeError(f"{self.model.__name__}.{name}: Insert needs a plain Python default")
            if not field.generated:  # a generated key is the database's, read back after the insert
                defaults[name] = _default_of(field)
        unset = dict.fromkeys(meta.fields_db_projection.values())
        executor = db.executor_class(model=self.model, db=db)
        compiled = _Compiled(executor.insert_query, list(executor.regular_columns), defaults, unset, executor)
        self._compiled[db.capabilities.dialect] = compiled
        return compiled

    def columns(self, db: BaseDBAsyncClient) -> list[str]:
        """The field names the statement writes on `db`'s dialect."""
        compiled = self._compiled.get(db.capabilities.dialect) or self._compile(db)
        return list(compiled.columns)

    async def create(self, connection: BaseDBAsyncClient | None = None, **values: Any) -> M:
        """Insert one row on `connection` (the caller's transaction), or the model's database."""
        db = connection or self.model._choose_db(True)
        compiled = self._compiled.get(db.capabilities.dialect) or self._compile(db)
        unknown = values.keys() - compiled.defaults.keys()
        if unknown:
            raise TypeError(f"{self.model.__name__} has no writable field {', '.join(sorted(unknown))}")
        # as a select makes it, then with Python values as `Model.__init__` sets them (unconverted)
        instance = self.model._init_from_db(**compiled.unset)
        for name, default in compiled.defaults.items():
            if name in values:
                value = values[name]
            elif default is not None:
                value = default()
            else:
                raise TypeError(f"{self.model.__name__}.{name} has no default and was not given")
            object.__setattr__(instance, name, value)
        return await self._written(db, compiled, instance)

    async def save(self, connection: BaseDBAsyncClient | None, instance: M) -> M:
        """Insert a new instance made by the model (`Model(...)`, defaults filled), like
        `instance.save(using_db=connection)`; one already stored, or given a key the database
        generates, is refused (`save` would update it, or insert that key)."""
        if instance._saved_in_db:
            raise TypeError(f"this {self.model.__name__} is stored already: save() updates it")
        if self.model._meta.pk.generated and instance.pk is not None:
            raise TypeError(f"{self.model.__name__}'s key is the database's to choose")
        db = connection or self.model._choose_db(True)
        compiled = self._compiled.get(db.capabilities.dialect) or self._compile(db)
        return await self._written(db, compiled, instance)

    async def _written(self, db: BaseDBAsyncClient, compiled: _Compiled, instance: M) -> M:
        fields = self.model._meta.fields_map
        params = [fields[name].to_db_value(getattr(instance, name), instance) for name in compiled.columns]
        result = await db.execute_insert(compiled.sql, params)
        await compiled.executor._process_insert_result(instance, result)
        instance._saved_in_db = True  # as `save` leaves it: a later save updates the row
        return instance
