"""`UPDATE ... RETURNING`: change rows and read back what the change made, in one statement.

tortoise's `update()` answers only how many rows changed, so a write that needs a
value it produced (a counter it incremented, the rows it leased) would cost a
second statement and, to be consistent, a transaction around both. PostgreSQL
and SQLite (3.35 and later) both return the changed rows from the UPDATE itself.
"""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import UpdateQuery


async def update_returning(
    update: UpdateQuery, returning: str, connection: BaseDBAsyncClient
) -> list[dict[str, Any]]:
    """Run `update` (a queryset's `.update(...)`, not awaited) on `connection` and return the
    changed rows' `returning` columns (`*`, or quoted names separated by commas) as dicts."""
    update._make_query()
    sql, values = update.query.get_parameterized_sql()
    return await connection.execute_query_dict(f"{sql} RETURNING {returning}", values)
