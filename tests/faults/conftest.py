"""Fault injection against real processes: killed services, misbehaving providers, dropped connections.

Builds on `tests/e2e`: the same provider sandbox, tokens, paths and `wait_until`.
Every wait is bounded by a deadline that fails the test saying what did not
happen; nothing here asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from notification_gateway.db import gateway_tortoise_config
from orders_service.db import orders_tortoise_config
from tests.e2e import conftest as e2e
from tests.e2e.conftest import CALLER, EMAIL_PATH, GATEWAY_TOKEN, SMS_PATH, Sandbox
from tests.e2e.proxy import HOP_BY_HOP, FaultyProxy
from tests.processes import ServiceProcess, free_port

ADMIN_TOKEN = "faults-admin-token-0123456789abcdef"
ORDERS_CALLER_TOKEN = "faults-orders-caller-token-0123456789"
WEBHOOK_SECRET = "whsec_ZmF1bHRzLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3ODk="
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ADA = {"id": "u_ada", "name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+447451277972"}
SHIPPING = {
    "recipient_name": "Ada Lovelace",
    "address_lines": ["12 Example Street"],
    "city": "London",
    "postcode": "N1 9GU",
    "country": "GB",
}
PROBLEM_JSON = "application/problem+json"
RESULTS_DIR = Path(__file__).parent / "results"

# The e2e fixtures, shared: an aiohttp session, and a provider sandbox process per test.
http = e2e.http
sandbox = e2e.sandbox
receipts_port = e2e.receipts_port
_REFERENCE = re.compile(r"Reference: (ord_[0-9a-z]+)\.")


def report(name: str, database_kind: str, counts: dict[str, Any]) -> Path:
    """Print the measured counts and keep them in tests/faults/results/<name>-<database>.json."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}-{database_kind}.json"
    document = {"test": name, "database": database_kind, **counts}
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    print(f"\n{name} ({database_kind}): {json.dumps(counts, sort_keys=True)}")
    return path


def order_reference(message: dict) -> str | None:
    """The order id an order-placed message names, if any."""
    found = _REFERENCE.search(message["message"])
    return found.group(1) if found else None


def gateway_environment(database_url: str, sandbox_url: str, port: int) -> dict[str, str]:
    """A delivering gateway with quick retries; tests that need short leases or timeouts set them."""
    return {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_PORT": str(port),
        "GATEWAY_TOKEN": GATEWAY_TOKEN,
        "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
        "GATEWAY_PLUGINS": "email,sms",
        "GATEWAY_RATE_LIMIT": "100000/second",
        "GATEWAY_RECIPIENT_LIMITS": "",  # load tests send many SMS to one number
        "GATEWAY_RETRY_BASE_SECONDS": "0.05",
        "GATEWAY_RETRY_MAX_SECONDS": "0.5",
        "GATEWAY_POLL_SECONDS": "0.05",
        "GATEWAY_LEASE_SECONDS": "10",
        "EMAIL_API_URL": sandbox_url + EMAIL_PATH,
        "EMAIL_API_TOKEN": "dev-email-token",
        "EMAIL_TIMEOUT_SECONDS": "5",
        "SMS_API_URL": sandbox_url + SMS_PATH,
        "SMS_API_TOKEN": "dev-sms-token",
        "SMS_TIMEOUT_SECONDS": "5",
        "LOG_LEVEL": "WARNING",
    }


def start_sandbox(log_dir: Path) -> ServiceProcess:
    port = free_port()
    service = ServiceProcess(
        "provider_sandbox", {"PROVIDER_SANDBOX_PORT": str(port)}, port=port, log_path=log_dir / "sandbox.log"
    )
    service.start()
    return service


class SandboxControl(Sandbox):
    """The e2e sandbox helper, plus what the fault tests need: every channel at once, and resets."""

    async def all_messages(self) -> list[dict]:
        async with self.http.get(f"{self.url}/_sandbox/messages") as response:
            return (await response.json())["data"]

    async def message_count(self) -> int:
        async with self.http.get(f"{self.url}/_sandbox/messages") as response:
            return (await response.json())["count"]

    async def all_requests(self) -> list[dict]:
        async with self.http.get(f"{self.url}/_sandbox/requests") as response:
            return (await response.json())["data"]

    async def reset(self) -> None:
        """No faults, no messages, no requests: a clean provider for the next case."""
        async with self.http.delete(f"{self.url}/_sandbox/faults") as response:
            assert response.status == 204, await response.text()
        async with self.http.delete(f"{self.url}/_sandbox/messages") as response:
            assert response.status == 204, await response.text()


@pytest.fixture
def provider(http, sandbox) -> SandboxControl:
    return SandboxControl(http, sandbox.url)


class DirectDatabase:
    """Reads a service's database behind its back (SQLite file or PostgreSQL), to check what was written.

    SQL is written with PostgreSQL's `$1` placeholders; for SQLite they become `?`, in order.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.kind = "postgres" if url.startswith(("postgres://", "postgresql://")) else "sqlite"

    @property
    def name(self) -> str:
        return self.url.rsplit("/", 1)[1]

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if self.kind == "sqlite":
            return await asyncio.to_thread(self._sqlite_fetch, re.sub(r"\$\d+", "?", sql), args)
        connection = await asyncpg.connect(self.url, timeout=5)
        try:
            return [dict(row) for row in await connection.fetch(sql, *args, timeout=10)]
        finally:
            await connection.close()

    def _sqlite_fetch(self, sql: str, args: tuple) -> list[dict[str, Any]]:
        connection = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=10)
        connection.row_factory = sqlite3.Row
        try:
            return [dict(row) for row in connection.execute(sql, args).fetchall()]
        finally:
            connection.close()

    async def execute(self, sql: str) -> None:
        """Write behind the service's back (a test's setup), committed."""
        if self.kind == "sqlite":
            await asyncio.to_thread(self._sqlite_execute, sql)
            return
        connection = await asyncpg.connect(self.url, timeout=5)
        try:
            await connection.execute(sql, timeout=60)
        finally:
            await connection.close()

    def _sqlite_execute(self, sql: str) -> None:
        connection = sqlite3.connect(self.url.removeprefix("sqlite://"), timeout=10)
        try:
            with connection:
                connection.execute(sql)
        finally:
            connection.close()

    async def value(self, sql: str, *args: Any) -> Any:
        [row] = await self.fetch(sql, *args)
        return next(iter(row.values()))

    async def leased_by(self, table: str, pid: int) -> int:
        """Rows still leased by the process `pid` (lease owners are `host:pid:worker:claim`)."""
        return await self.value(
            f"SELECT count(*) AS n FROM {table} WHERE lease_owner LIKE $1",  # noqa: S608 - our own names
            f"%:{pid}:%",
        )

    async def terminate_connections(self) -> int:
        """PostgreSQL only: kill every backend connected to this database; returns how many."""
        assert self.kind == "postgres", "only PostgreSQL has connections to kill"
        connection = await asyncpg.connect(self.url, timeout=5)
        try:
            rows = await connection.fetch(
                "SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
        finally:
            await connection.close()
        return sum(1 for row in rows if row["killed"])


class FaultSystem:
    """The three services on loopback, each restartable after a SIGKILL; nothing starts until asked.

    The gateway knows two callers: `default` (GATEWAY_TOKEN, for the tests' own notifications) and
    `orders` (the orders service, whose callbacks it signs).
    """

    def __init__(self, database_server, tmp_path: Path, sandbox: ServiceProcess) -> None:
        self.database_kind = database_server.kind
        gateway_url = database_server.database_url("gateway", gateway_tortoise_config, tmp_path)
        orders_url = database_server.database_url("orders", orders_tortoise_config, tmp_path)
        self.gateway_db, self.orders_db = DirectDatabase(gateway_url), DirectDatabase(orders_url)
        self.orders_port, gateway_port = free_port(), free_port()
        orders_origin = f"http://127.0.0.1:{self.orders_port}"
        self.gateway = ServiceProcess(
            "notification_gateway",
            gateway_environment(gateway_url, sandbox.url, gateway_port)
            | {
                "GATEWAY_CALLERS": f"orders:{ORDERS_CALLER_TOKEN}",
                "GATEWAY_SUPPRESSION_KEY": "test-suppression-key-0123456789",
                "GATEWAY_WEBHOOK_SECRETS": f"orders:{WEBHOOK_SECRET}",
                "GATEWAY_CALLBACK_ORIGINS": orders_origin,
            },
            port=gateway_port,
            log_path=tmp_path / "gateway.log",
        )
        self.orders = ServiceProcess(
            "orders_service",
            {
                "ORDERS_DATABASE_URL": orders_url,
                "ORDERS_PORT": str(self.orders_port),
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "ORDERS_RATE_LIMIT": "100000/second",
                "ORDERS_GATEWAY_URL": self.gateway.url,
                "ORDERS_GATEWAY_TOKEN": ORDERS_CALLER_TOKEN,
                "ORDERS_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "ORDERS_CALLBACK_URL": f"{orders_origin}/webhooks/notifications",
                "ORDERS_RELAY_RETRY_BASE_SECONDS": "0.1",
                "ORDERS_RELAY_RETRY_MAX_SECONDS": "1",
                "ORDERS_RELAY_POLL_SECONDS": "0.05",
                "ORDERS_RELAY_LEASE_SECONDS": "2",
                "LOG_LEVEL": "WARNING",
            },
            port=self.orders_port,
            log_path=tmp_path / "orders.log",
        )
        self._seeded = False

    def _start(self, service: ServiceProcess) -> None:
        if service is self.orders and not self._seeded:
            service.run("seed")  # the demo users: u_ada, u_alan, u_grace, u_rosalind
            self._seeded = True
        service.start()

    async def start(self, service: ServiceProcess) -> None:
        """Start (or restart) in a thread, so the test's event loop (and any proxy on it) keeps running."""
        await asyncio.to_thread(self._start, service)

    @staticmethod
    async def kill(service: ServiceProcess) -> int:
        """SIGKILL: no shutdown, leases left behind. Returns the dead process's pid."""
        pid = service.process.pid
        await asyncio.to_thread(service.kill)
        return pid

    def stop(self) -> None:
        self.orders.stop()
        self.gateway.stop()


@pytest.fixture
def system(database_server, tmp_path, sandbox):
    """Databases are prepared here, outside the event loop the async tests run in; stopped afterwards."""
    built = FaultSystem(database_server, tmp_path, sandbox)
    yield built
    built.stop()


async def place_order(http: aiohttp.ClientSession, orders: ServiceProcess, **fields: Any) -> dict:
    body = {"user_id": "u_ada", "sequencing_type": "targeted-sequencing", "shipping_info": SHIPPING} | fields
    async with http.post(f"{orders.url}/orders", json=body, headers=ADMIN) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def notify(http: aiohttp.ClientSession, gateway: ServiceProcess, message: str, **extra: Any) -> dict:
    body = {"recipient": ADA, "message": message} | extra
    async with http.post(f"{gateway.url}/notify", json=body, headers=CALLER) as response:
        assert response.status == 202, await response.text()
        return await response.json()


async def notification(http: aiohttp.ClientSession, gateway: ServiceProcess, notification_id: str) -> dict:
    async with http.get(f"{gateway.url}/notifications/{notification_id}", headers=CALLER) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def nothing_pending(http: aiohttp.ClientSession, gateway: ServiceProcess, headers: dict) -> bool:
    """No notification of this caller is queued or being sent."""
    async with http.get(
        f"{gateway.url}/notifications?status=queued&status=sending&limit=1", headers=headers
    ) as response:
        return response.status == 200 and (await response.json())["count"] == 0


def duplicates_in(counts: Counter) -> int:
    return sum(count - 1 for count in counts.values())


class GatedProxy(FaultyProxy):
    """A load balancer in front of the gateway that holds requests until opened and answers late.

    Each `POST /notify` waits for `opened`, is forwarded, and its answer is held `delay_seconds` more:
    the gateway has committed, the client does not know yet. It counts what it sees, so a test
    can tell how many sends were in flight when it killed the client.
    """

    def __init__(self, upstream: str, *, delay_seconds: float) -> None:
        super().__init__(upstream)
        self.delay_seconds = delay_seconds
        self.opened = asyncio.Event()
        self.in_flight = 0
        self.answered_not_returned = 0
        self.replayed = 0
        self.statuses: Counter[int] = Counter()

    async def _pass_through(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as upstream:
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=await upstream.read(), headers=kept)

    async def _handle(self, request: web.Request) -> web.Response:
        if request.path != "/notify":
            return await self._pass_through(request)  # start-up checks and channel lists: ungated
        self.in_flight += 1
        try:
            await self.opened.wait()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
            async with self._session.request(
                request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
            ) as upstream:
                body = await upstream.read()
                kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
                status = upstream.status
            self.forwarded += 1
            self.statuses[status] += 1
            self.replayed += kept.get("Idempotent-Replayed") == "true"
            self.answered_not_returned += 1
            try:
                await asyncio.sleep(self.delay_seconds)
            finally:
                self.answered_not_returned -= 1
            return web.Response(status=status, body=body, headers=kept)
        finally:
            self.in_flight -= 1


class PostgresProxy:
    """A TCP relay in front of PostgreSQL that can misbehave the way a dying connection does.

    Every byte is passed on at once, except:

    - `hold_closes`: after the server closed its side, the client's side stays open until
      `let_closes_through()`; the client has the server's last words ("terminating connection due to
      administrator command") but not yet the close.
    - `cut_after_commit()`: once the server's confirmation of a COMMIT has reached the client, the
      connection is closed: the commit stands and the client heard of it, then the connection died.
    - `cut_after_answer(tag)`: once the server completes a statement with `tag` (`UPDATE 0`: a
      statement on its own, with no COMMIT of its own to wait for), the client's next message on
      that connection is dropped and the connection closed.
    - `cut_after_statement(text, at=None)`: once the client has sent a statement containing `text`,
      the connection is closed as soon as the statement's answer has reached the client (the
      server's next ReadyForQuery); with `at`, at the client's next message containing `at` instead:
      `at=b"COMMIT"` loses the transaction the statement was in.
    - `cut_before_statement(text)`: the connection dies as the client sends a statement containing
      `text` (its first sending: later ones name the prepared statement), which never reaches the
      server.
    """

    COMMIT_CONFIRMED = b"C\x00\x00\x00\x0bCOMMIT\x00"  # CommandComplete, tag COMMIT
    READY_FOR_QUERY = b"Z\x00\x00\x00\x05"  # the server has answered everything it was sent

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self.upstream = (parts.hostname, parts.port or 5432)
        self.port = free_port()
        self.url = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{self.port}"))
        self.hold_closes = False
        self.open = 0
        self.held = 0
        self.cuts = 0
        self._closes_through = asyncio.Event()
        self._answer_armed: bytes | None = None
        self._answer_cuts_at_once = False
        self._statement_armed: tuple[bytes, bytes | None] | None = None
        self._cut_before: bytes | None = None
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    def let_closes_through(self) -> None:
        self._closes_through.set()

    def cut_after_commit(self) -> None:
        self._answer_armed = self.COMMIT_CONFIRMED
        self._answer_cuts_at_once = True

    def cut_after_answer(self, tag: bytes) -> None:
        """Cut after the server completes a statement with `tag` (its CommandComplete message)."""
        self._answer_armed = b"C" + (4 + len(tag) + 1).to_bytes(4, "big") + tag + b"\x00"
        self._answer_cuts_at_once = False

    def cut_after_statement(self, text: bytes, at: bytes | None = None) -> None:
        self._statement_armed = (text, at)

    def cut_before_statement(self, text: bytes) -> None:
        self._cut_before = text

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self._handlers.add(asyncio.current_task())
        self.open += 1
        server_reader, server_writer = await asyncio.open_connection(*self.upstream)
        cut_next = asyncio.Event()  # cut at the client's next message
        cut_at: list[bytes] = []  # cut at the client's next message containing this
        cut_when_answered: list[bool] = []  # cut once the server's answer has reached the client
        cut = asyncio.Event()

        async def to_server() -> None:
            while data := await client_reader.read(65536):
                if cut_next.is_set() or (cut_at and cut_at[0] in data):
                    cut.set()
                    return
                if self._cut_before is not None and self._cut_before in data:
                    self._cut_before = None
                    cut.set()
                    return
                if self._statement_armed is not None and self._statement_armed[0] in data:
                    at = self._statement_armed[1]
                    if at is None:
                        cut_when_answered.append(True)
                    else:
                        cut_at.append(at)
                    self._statement_armed = None
                server_writer.write(data)
                await server_writer.drain()
            server_writer.close()  # the client hung up: so do we

        async def to_client() -> None:
            tail = b""
            while data := await server_reader.read(65536):
                client_writer.write(data)
                await client_writer.drain()
                armed = self._answer_armed
                if armed is not None and armed in tail + data:
                    self._answer_armed = None
                    (cut if self._answer_cuts_at_once else cut_next).set()
                if cut_when_answered and self.READY_FOR_QUERY in tail + data:
                    cut.set()
                tail = data[-64:]

        upstream = asyncio.create_task(to_server())
        downstream = asyncio.create_task(to_client())
        cutting = asyncio.create_task(cut.wait())
        try:
            with contextlib.suppress(ConnectionError):
                await asyncio.wait({downstream, cutting}, return_when=asyncio.FIRST_COMPLETED)
            if cut.is_set():
                self.cuts += 1
            elif self.hold_closes and not upstream.done():
                self.held += 1
                await self._closes_through.wait()
                self.held -= 1
        finally:
            self.open -= 1
            for task in (upstream, downstream, cutting):
                task.cancel()
            for writer in (client_writer, server_writer):
                writer.close()

    async def stop(self) -> None:
        self._closes_through.set()
        self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
