"""Keeping PostgreSQL's plans in step with a table that grew faster than autovacuum looks.

The server keeps one plan for each statement a connection runs often, made with
what it then believed of the tables. A queue table that was small when its
claims were first planned (a new deployment) and took a burst since (a
newsletter for 20,000) keeps plans that read the whole table to find the few
rows they update, until autovacuum next analyses it, a minute or more later.
There, a claim that takes 0.2 ms takes 6, and a batch record 9.

`PlannerStatistics.rows_seen` is told how many rows the table holds, from a count
the caller makes anyway; when the planner believes in fewer than half as many,
it ANALYZEs the table, which renews its statistics and, with them, every
connection's plans that read it. ANALYZE blocks no reader or writer; if
autovacuum (or another replica) is at the table already, it is left to them.
"""

from __future__ import annotations

import logging

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from apikit.database import is_database_unavailable

log = logging.getLogger(__name__)

#: Below this many rows no plan goes wrong enough to matter.
MIN_ROWS = 1000
#: How long ANALYZE waits for a table lock someone else holds before leaving it to them.
LOCK_TIMEOUT = "200ms"
#: How long ANALYZE may take (it reads a sample of 30,000 rows at most, whatever the table's size).
STATEMENT_TIMEOUT = "10s"


class PlannerStatistics:
    """Renews PostgreSQL's statistics of one table when it has grown past twice what they say."""

    def __init__(self, table: str, connection_name: str = "default") -> None:
        self.table = table
        self.connection_name = connection_name
        self._tried_for = 0  # rows counted when this process last tried; half that resets it

    async def rows_seen(self, rows: int) -> bool:
        """The table holds at least `rows` rows now: ANALYZE it if the planner believes in fewer
        than half as many. True if that renewed them. Nothing on SQLite, which plans every
        statement afresh. Never raises but for a database that cannot be reached: this is
        housekeeping, and the caller's real work goes on without it."""
        client = connections.get(self.connection_name)
        if client.capabilities.dialect != "postgres":
            return False
        if rows * 2 < self._tried_for:  # the queue has drained since: the next burst counts again
            self._tried_for = 0
        if rows < max(MIN_ROWS, 2 * self._tried_for):
            return False
        try:
            if await self._believed(client) * 2 >= rows:
                return False
            self._tried_for = rows  # tried once for this size, whatever comes of it
            async with in_transaction(self.connection_name) as transaction:
                await transaction.execute_script(
                    f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'; "
                    f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'; ANALYZE \"{self.table}\""
                )
            renewed = await self._believed(client) * 2 >= rows  # not if we do not own the table
        except Exception as exc:
            if is_database_unavailable(exc):
                raise
            # Most often a lock: autovacuum or another replica is analysing the table already.
            log.info(
                "planner statistics not renewed",
                extra={"table": self.table, "error": f"{type(exc).__name__}: {exc}"},
            )
            return False
        log.log(
            logging.INFO if renewed else logging.WARNING,
            "planner statistics renewed for a table that grew"
            if renewed
            else "planner statistics not renewed: only the table's owner may ANALYZE it",
            extra={"table": self.table, "rows": rows},
        )
        return renewed

    async def _believed(self, client: BaseDBAsyncClient) -> float:
        """How many rows the planner believes the table holds (-1: never analysed)."""
        [row] = await client.execute_query_dict(
            "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", [f'"{self.table}"']
        )
        return row["reltuples"]
