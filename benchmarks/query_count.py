"""How many SQL statements `GET /users/?limit=100` costs, for 1 user and for 100 users x 10 orders.

Run: `make query-count` (or `uv run python -m benchmarks.query_count`).
Uses a throw-away SQLite file; prints a Markdown table and keeps it in benchmarks/results/query_count.md.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from apikit.database import migrate
from benchmarks.harness import write_results
from orders_service.app import create_app
from orders_service.db import orders_tortoise_config
from orders_service.models import DNAKitOrder, User
from orders_service.settings import OrdersSettings

SHIPPING = {"recipient_name": "A", "address_lines": ["1 St"], "city": "X", "postcode": "N1", "country": "GB"}


class SqlCounter(logging.Handler):
    """Counts the statements tortoise logs at DEBUG on `tortoise.db_client`: what the database was asked."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += (
            record.getMessage().lstrip().upper().startswith(("SELECT", "INSERT", "UPDATE", "DELETE", "WITH"))
        )


async def _fill(users: int, orders_each: int) -> None:
    await DNAKitOrder.all().delete()
    await User.all().delete()
    await User.bulk_create([User(id=f"u_{n:05d}", name="U", email=f"u{n}@example.com") for n in range(users)])
    await DNAKitOrder.bulk_create(
        [
            DNAKitOrder(user_id=f"u_{n:05d}", sequencing_type="targeted-sequencing", shipping_info=SHIPPING)
            for n in range(users)
            for _ in range(orders_each)
        ]
    )


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite://{Path(folder) / 'orders.sqlite3'}"
        await migrate(orders_tortoise_config(url))
        settings = OrdersSettings(APP_ENV="development", ORDERS_DATABASE_URL=url)
        counter = SqlCounter()
        sql_log = logging.getLogger("tortoise.db_client")
        async with TestClient(TestServer(create_app(settings))) as client:
            rows = ["| users x orders | users returned | SQL statements |", "|---|---|---|"]
            for users, orders_each in ((1, 10), (100, 10)):
                await _fill(users, orders_each)
                sql_log.setLevel(logging.DEBUG)
                sql_log.addHandler(counter)
                counter.count = 0
                response = await client.get(
                    "/users/?limit=100", headers={"Authorization": "Bearer dev-admin-token"}
                )
                page = await response.json()
                sql_log.removeHandler(counter)
                rows.append(f"| {users} x {orders_each} | {page['count']} | {counter.count} |")
    write_results(
        "query_count",
        "SQL statements per GET /users/?limit=100 (SQLite)",
        rows,
        ["Counted from the tortoise.db_client log, in process; the count must not grow with the page."],
    )


if __name__ == "__main__":
    asyncio.run(main())
