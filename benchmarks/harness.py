"""What every benchmark needs: our services as real processes on loopback, fresh databases, results."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from tests.databases import PostgresServer, SqliteServer
from tests.processes import ServiceProcess, free_port

RESULTS = Path(__file__).with_name("results")
EMAIL_PATH = "/dev/home-test/email-delivery-service"
SMS_PATH = "/dev/home-test/sms-delivery-service"


def off_loop(function, *args):
    """Run a blocking helper that starts its own event loop (the test database servers do)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


@contextmanager
def database_server() -> Iterator[SqliteServer | PostgresServer]:
    """SQLite by default; `BENCH_DATABASE=postgres` uses the PostgreSQL at TEST_POSTGRES_URL.

    Call its `database_url` through `off_loop` from async code."""
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        if os.environ.get("BENCH_DATABASE", "sqlite") == "postgres":
            server: SqliteServer | PostgresServer = PostgresServer(
                os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
            )
        else:
            server = SqliteServer(Path(folder))
        try:
            yield server
        finally:
            off_loop(server.close)


@contextmanager
def running(service: ServiceProcess) -> Iterator[ServiceProcess]:
    service.start()
    try:
        yield service
    finally:
        service.stop()


def sandbox(workdir: Path) -> ServiceProcess:
    port = free_port()
    return ServiceProcess(
        "provider_sandbox", {"PROVIDER_SANDBOX_PORT": str(port)}, port, workdir / "sandbox.log"
    )


def gateway(
    workdir: Path, database_url: str, sandbox_url: str, token: str, **overrides: str
) -> ServiceProcess:
    port = free_port()
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TOKEN": token,
        "GATEWAY_PLUGINS": "email,sms",
        "GATEWAY_RATE_LIMIT": "1000000/second",
        "EMAIL_API_URL": sandbox_url + EMAIL_PATH,
        "EMAIL_API_TOKEN": "dev-email-token",
        "SMS_API_URL": sandbox_url + SMS_PATH,
        "SMS_API_TOKEN": "dev-sms-token",
        "LOG_LEVEL": "WARNING",
    } | overrides
    return ServiceProcess("notification_gateway", env, port, workdir / f"gateway-{port}.log")


def write_results(name: str, title: str, table: list[str], notes: list[str]) -> Path:
    """Print the Markdown table and keep it in benchmarks/results/<name>.md."""
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n".join(
        [f"## {title}", "", f"Measured {stamp} on {os.cpu_count()} cores.", "", *table, "", *notes, ""]
    )
    path = RESULTS / f"{name}.md"
    path.write_text(text)
    print(text)
    return path


def run(main) -> None:
    asyncio.run(main())
