"""Fixtures every suite shares: the database server and an SQL query counter."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from notification_gateway.db import gateway_tortoise_config
from tests.databases import open_server
from tests.processes import ServiceProcess, free_port

# The orders service's credentials at the session's gateway (see `gateway_process`).
GATEWAY_TOKEN = "test-orders-caller-token-0123456789"
WEBHOOK_SECRET = "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5"
SMS_RECEIPT_SECRET = "test-sms-receipt-secret-0123456789"

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


@contextmanager
def api_only_gateway(
    database_server, workdir: Path, database: str, settings: dict[str, str]
) -> Iterator[ServiceProcess]:
    """A real gateway process serving its API only: workers off, generous limits, and the e-mail
    and SMS plugins pointed where nothing listens. `settings` add to (or override) those."""
    port = free_port()
    service = ServiceProcess(
        "notification_gateway",
        {
            "GATEWAY_DATABASE_URL": database_server.database_url(database, gateway_tortoise_config, workdir),
            "GATEWAY_PORT": str(port),
            "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
            "GATEWAY_WORKERS_ENABLED": "false",
            "GATEWAY_PLUGINS": "email,sms",
            "GATEWAY_RATE_LIMIT": "100000/second",
            "GATEWAY_RECIPIENT_LIMITS": "",  # load tests send many SMS to one number
            "EMAIL_API_URL": "http://127.0.0.1:9/email",
            "EMAIL_API_TOKEN": "unused",
            "SMS_API_URL": "http://127.0.0.1:9/sms",
            "SMS_API_TOKEN": "unused",
            **settings,
        },
        port=port,
        log_path=workdir / "gateway.log",
    )
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="session")
def gateway_process(database_server, tmp_path_factory):
    """The real gateway, API only (no deliveries): what the orders service asks about channels."""
    settings = {
        "GATEWAY_CALLERS": f"orders:{GATEWAY_TOKEN}",
        "GATEWAY_WEBHOOK_SECRETS": f"orders:{WEBHOOK_SECRET}",
        "GATEWAY_CALLBACK_ORIGINS": "http://127.0.0.1:8080",
        "SMS_RECEIPT_SECRET": SMS_RECEIPT_SECRET,  # so a test can opt a number out with a signed STOP
    }
    workdir = tmp_path_factory.mktemp("gateway")
    with api_only_gateway(database_server, workdir, "gateway_for_orders", settings) as service:
        yield service
