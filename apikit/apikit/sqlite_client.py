"""tortoise's SQLite client, beginning a transaction with BEGIN alone, and letting urgent work
take the connection first (a tortoise engine module).

tortoise's `begin()` sends COMMIT, then BEGIN: two trips to aiosqlite's thread. The
COMMIT can only end a transaction someone left open on the one shared
connection, and nothing here does: tortoise holds the connection's lock for
each transaction and ends it before letting go. So the transaction starts with
BEGIN alone, and an unexpected open one fails loudly ("cannot start a
transaction within a transaction") instead of being committed unseen.

The connection's lock is an `UrgentFirstLock`: work in an `apikit.urgency.urgent()`
block (a transactional claim) waits only for the work that holds the connection,
not for everything in line before it.
"""

from __future__ import annotations

import sqlite3

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.exceptions import TransactionManagementError

from apikit.urgency import UrgentFirstLock


class _Transaction(SqliteTransactionWrapper):
    async def begin(self) -> None:
        try:
            await self._connection.execute("BEGIN")
        except sqlite3.OperationalError as exc:
            raise TransactionManagementError(exc) from exc


class SqliteBeginClient(SqliteClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._lock = UrgentFirstLock()

    def _in_transaction(self) -> TransactionContext:
        return SqliteTransactionContext(_Transaction(self), self._lock)


client_class = SqliteBeginClient
