"""Fixtures every suite shares: the database server and an SQL query counter."""

from __future__ import annotations

import logging
import re

import pytest

from tests.databases import open_server

_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


@pytest.fixture(scope="session")
def database_server(tmp_path_factory):
    server = open_server(tmp_path_factory.mktemp("databases"))
    yield server
    server.close()


class QueryCounter(logging.Handler):
    """Counts the SQL statements tortoise sends, as its client logs them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _SQL.match(message):
            self.statements.append(message)

    def reset(self) -> None:
        self.statements.clear()

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def sql_queries():
    logger = logging.getLogger("tortoise.db_client")
    counter = QueryCounter()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    yield counter
    logger.removeHandler(counter)
    logger.setLevel(previous)
