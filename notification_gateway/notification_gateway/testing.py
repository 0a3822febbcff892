"""A conformance suite every channel plugin runs against itself, so all channels fail the same, safe way.

The gateway's retries, dead-lettering and logs rely on each channel keeping the
`Channel` contract: refuse unusable recipients without calling the provider,
apply its own timeout, sort provider answers into retryable and permanent
failures, and never put the token or a full address in an error or a log line.

Use it from a plugin's tests (the file name must be unique in your test tree)::

    import pytest
    from notification_gateway.channels import Recipient
    from notification_gateway.testing import ChannelConformance
    from my_plugin.channel import MyChannel

    class TestMyChannelConformance(ChannelConformance):
        @pytest.fixture
        def make_channel(self):
            return lambda url, token, timeout_seconds: MyChannel(
                url=url, token=token, timeout_seconds=timeout_seconds
            )

        @pytest.fixture
        def recipient(self):
            return Recipient(id="u_1", name="Ada Lovelace", contacts={"email": "ada@example.com"})

Fixtures to provide:

- `make_channel`: a callable taking the keyword arguments `url`, `token` and
  `timeout_seconds` and returning a configured channel that sends to `url`.
- `recipient`: a `Recipient` the channel can reach.
- `unusable_addresses` (optional): values of the channel's `recipient_field`
  it must refuse; the default only has blanks, so list realistic bad values.

Requirements: `pip install notification-gateway[testing]` (pytest,
pytest-asyncio, aioresponses). The async tests carry `pytest.mark.asyncio`, so
they run under pytest-asyncio's strict and auto modes alike; the suite needs no
conftest. The provider is stubbed with aioresponses at `PROVIDER_URL` (any
HTTP method, any path or query under it); the timeout test starts a real
server on 127.0.0.1. Error bodies echo the token and the address: `deliver_http`
cuts credentials sent in headers, and `apikit.logs.mask` hides e-mail addresses
and phone numbers; a channel with another kind of address must redact it itself.
For a plugin's own aioresponses tests, pass `response_class=StubResponse` while
aioresponses does not support aiohttp 3.14.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from notification_gateway.channels import (
    Channel,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    Receipt,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)

PROVIDER_URL = "https://provider.invalid/send"
_PROVIDER = re.compile(r"^https://provider\.invalid(?:[/?#]|$)")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_TIMEOUT_SECONDS = 5.0
_SLOW_TIMEOUT_SECONDS = 0.2
_SLOW_PROVIDER_SECONDS = 30.0
_MAX_DETAIL_CHARS = 200
_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters

_CONNECTION_FAILURES: dict[str, Callable[[], Exception]] = {
    "server-disconnected": lambda: aiohttp.ServerDisconnectedError(),
    "connection-reset": lambda: aiohttp.ClientConnectionResetError("Connection reset by peer"),
    "os-error": lambda: aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer"),
}
_RETRYABLE_STATUSES = (408, 429, 500, 502, 503, 504)
_PERMANENT_STATUSES = (400, 401, 403, 404, 422)
_ODD_BODIES = ("empty", "not-json", "binary", "huge", "secret-heavy", "echo")
_FAILURES = (
    "timeout",
    *_CONNECTION_FAILURES,
    *(str(status) for status in _RETRYABLE_STATUSES + _PERMANENT_STATUSES),
    "500-binary",
)


class StubResponse(aiohttp.ClientResponse):
    """Pass as aioresponses' `response_class`: aioresponses 0.7.9 omits aiohttp 3.14's `stream_writer`.

    The stubbed request is already "sent", so the response gets a writer with
    nothing left to write. See pnuckowski/aioresponses#289.
    """

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@dataclass
class _Outcome:
    """What one `send` against the stubbed provider produced, and how many requests it made."""

    receipt: Receipt | None
    error: DeliveryError | None
    requests: int


def _body(kind: str, token: str, address: str) -> bytes:
    """A provider answer body; `not-json`, `binary` and `echo` echo the token and the address."""
    if kind == "empty":
        return b""
    if kind == "not-json":
        return f"<html>queued for {address} (Bearer {token})</html>".encode()
    if kind == "binary":
        return token.encode() + b"\x00" + address.encode() + b"\x00" + bytes(range(256)) * 4
    if kind == "huge":
        # More than a channel should read (64 KiB in `deliver_http`), less than aioresponses can feed.
        return b'{"detail": "' + b"A" * 100_000 + b'"}'
    if kind == "secret-heavy":
        return b"token=x " * 100  # masking lengthens it: "token=***"
    return json.dumps(
        {
            "error": f"rejected {token} for {address}",
            "request": {"recipient": address, "authorization": f"Bearer {token}", "credential": token},
        }
    ).encode()


def _failure(kind: str, token: str, address: str) -> dict[str, Any]:
    """aioresponses arguments for one failure kind of `_FAILURES`."""
    if kind == "timeout":
        return {"exception": TimeoutError()}
    if kind in _CONNECTION_FAILURES:
        return {"exception": _CONNECTION_FAILURES[kind]()}
    if kind == "500-binary":
        return {"status": 500, "body": _body("binary", token, address)}
    return {"status": int(kind), "body": _body("echo", token, address)}


def _assert_hidden(text: str, hidden: tuple[str, ...], where: str) -> None:
    for secret in hidden:
        assert secret not in text, f"{where} contains the token or the full address"


def _assert_safe_error(error: BaseException, hidden: tuple[str, ...]) -> None:
    """Neither the error nor any exception a traceback would show with it leaks a secret."""
    seen: BaseException | None = error
    while seen is not None:
        _assert_hidden(str(seen), hidden, f"{type(seen).__name__}'s message")
        _assert_hidden(repr(seen), hidden, f"{type(seen).__name__}'s repr")
        if isinstance(seen, DeliveryError):
            _assert_hidden(seen.reason, hidden, f"{type(seen).__name__}.reason")
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)


def _assert_logs_hidden(caplog: pytest.LogCaptureFixture, hidden: tuple[str, ...]) -> None:
    _assert_hidden(caplog.text, hidden, "the captured log")
    for record in caplog.records:
        _assert_hidden(record.getMessage(), hidden, f"a log record from {record.name}")
        _assert_hidden(repr(vars(record)), hidden, f"a log record's attributes from {record.name}")


class ChannelConformance:
    """Subclass as `Test...` and provide `make_channel` and `recipient`; see the module docstring."""

    @pytest.fixture
    def make_channel(self) -> Callable[..., Channel]:
        pytest.fail(
            "ChannelConformance needs a `make_channel` fixture: (url, token, timeout_seconds) -> Channel"
        )

    @pytest.fixture
    def recipient(self) -> Recipient:
        pytest.fail("ChannelConformance needs a `recipient` fixture: a Recipient the channel can reach")

    @pytest.fixture
    def unusable_addresses(self) -> tuple[str, ...]:
        return ("", "   ")

    @pytest.fixture
    def provider_token(self) -> str:
        return f"conformance-{secrets.token_hex(16)}"

    @pytest.fixture
    def channel(self, make_channel: Callable[..., Channel], provider_token: str) -> Channel:
        return make_channel(url=PROVIDER_URL, token=provider_token, timeout_seconds=_TIMEOUT_SECONDS)

    @pytest.fixture
    def message(self, recipient: Recipient) -> Message:
        return Message(
            notification_id="ntf_conformance",
            recipient=recipient,
            text=f"Hi {recipient.name}, your order has been successfully placed.",
        )

    @pytest.fixture
    def address(self, channel: Channel, recipient: Recipient) -> str:
        """The recipient's address as the channel sends it."""
        return channel.address_of(recipient)

    @pytest.fixture
    def hidden(
        self, channel: Channel, recipient: Recipient, provider_token: str, address: str
    ) -> tuple[str, ...]:
        """What must never show: the token, and the address as given and as sent."""
        return (provider_token, recipient.contacts[channel.recipient_field].strip(), address)

    @staticmethod
    async def _send(channel: Channel, message: Message, **response: Any) -> _Outcome:
        """Send once with the provider stubbed by `response` (aioresponses arguments) for any method."""
        with aioresponses() as mocked:
            for method in _METHODS:
                mocked.add(_PROVIDER, method=method, response_class=StubResponse, **response)
            receipt = error = None
            async with aiohttp.ClientSession() as session:
                try:
                    receipt = await channel.send(message, session)
                except DeliveryError as exc:
                    error = exc
            requests = sum(len(calls) for calls in mocked.requests.values())
            assert all(url.host == "provider.invalid" for _, url in mocked.requests), (
                "the channel called a URL other than the one it was built with"
            )
        return _Outcome(receipt, error, requests)

    # Metadata and addresses.

    def test_metadata(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert isinstance(channel.name, str)
        assert _NAME.match(channel.name), f"name {channel.name!r} must match {_NAME.pattern}"
        assert isinstance(channel.recipient_field, str)
        assert channel.recipient_field.isidentifier(), "recipient_field must be a non-empty identifier"
        assert isinstance(channel.description, str)
        assert inspect.iscoroutinefunction(channel.send), "send must be a coroutine function"

    def test_reaches_the_fixture_recipient(self, channel: Channel, recipient: Recipient) -> None:
        address = channel.address_of(recipient)
        assert isinstance(address, str)
        assert address
        assert channel.check_address(address) == address, "a checked address must check as itself"

    @pytest.mark.asyncio
    async def test_recipient_without_the_field_is_unreachable(
        self, channel: Channel, message: Message, recipient: Recipient
    ) -> None:
        contacts = {k: v for k, v in recipient.contacts.items() if k != channel.recipient_field}
        stripped = replace(
            message, recipient=Recipient(id=recipient.id, name=recipient.name, contacts=contacts)
        )
        outcome = await self._send(channel, stripped, status=200, body=b"{}")
        assert isinstance(outcome.error, RecipientUnreachable), (
            f"expected RecipientUnreachable, got {outcome}"
        )
        assert outcome.requests == 0, "the channel called the provider for an unreachable recipient"

    @pytest.mark.asyncio
    async def test_unusable_address_is_unreachable(
        self,
        channel: Channel,
        message: Message,
        recipient: Recipient,
        unusable_addresses: tuple[str, ...],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        for value in unusable_addresses:
            with pytest.raises(RecipientUnreachable) as caught:
                channel.check_address(value)
            contacts = {**recipient.contacts, channel.recipient_field: value}
            bad = replace(
                message, recipient=Recipient(id=recipient.id, name=recipient.name, contacts=contacts)
            )
            outcome = await self._send(channel, bad, status=200, body=b"{}")
            assert isinstance(outcome.error, RecipientUnreachable), f"{value!r} was not refused: {outcome}"
            assert outcome.requests == 0, f"the channel called the provider for {value!r}"
            if len(value.strip()) >= 4:  # shorter values occur in any sentence
                _assert_safe_error(caught.value, (value.strip(),))
                _assert_safe_error(outcome.error, (value.strip(),))
                _assert_logs_hidden(caplog, (value.strip(),))

    # Accepted messages.

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", [200, 201, 202])
    async def test_accepted_answer_is_a_receipt(
        self, channel: Channel, message: Message, status: int
    ) -> None:
        outcome = await self._send(channel, message, status=status, body=b'{"id": "msg_1"}')
        assert isinstance(outcome.receipt, Receipt), f"expected a Receipt, got {outcome}"
        assert outcome.receipt.provider_status == status
        assert outcome.requests == 1, "send must make exactly one request; the gateway does the retrying"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("kind", _ODD_BODIES)
    async def test_odd_accepted_body_gives_a_short_masked_receipt(
        self,
        channel: Channel,
        message: Message,
        provider_token: str,
        address: str,
        hidden: tuple[str, ...],
        kind: str,
    ) -> None:
        outcome = await self._send(channel, message, status=200, body=_body(kind, provider_token, address))
        assert isinstance(outcome.receipt, Receipt), f"expected a Receipt, got {outcome}"
        assert outcome.receipt.provider_status == 200
        detail = outcome.receipt.detail
        if detail is not None:
            assert len(detail) <= _MAX_DETAIL_CHARS, f"detail is {len(detail)} characters long"
            assert detail.isprintable(), "detail has unprintable characters"
            _assert_hidden(detail, hidden, "the receipt's detail")
        _assert_hidden(repr(outcome.receipt), hidden, "the receipt")

    # Failures the gateway retries.

    @pytest.mark.asyncio
    async def test_applies_its_own_timeout(
        self,
        make_channel: Callable[..., Channel],
        provider_token: str,
        message: Message,
        hidden: tuple[str, ...],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        started, finished = asyncio.Event(), asyncio.Event()
        handlers: set[asyncio.Task[Any]] = set()

        async def slow(request: web.Request) -> web.Response:
            task = asyncio.current_task()
            if task is not None:
                handlers.add(task)
            started.set()
            await asyncio.sleep(_SLOW_PROVIDER_SECONDS)
            finished.set()
            return web.json_response({"id": "too_late"})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", slow)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        try:
            channel = make_channel(
                url=str(server.make_url("/send")),
                token=provider_token,
                timeout_seconds=_SLOW_TIMEOUT_SECONDS,
            )
            async with aiohttp.ClientSession() as session:
                try:
                    receipt = await channel.send(message, session)
                except RetryableDeliveryError as exc:
                    error = exc
                else:
                    pytest.fail(f"send waited for a slow provider instead of timing out: {receipt}")
        finally:
            for task in handlers:
                task.cancel()
            await server.close()
        assert started.is_set(), "the request never reached the provider"
        assert not finished.is_set(), "the provider finished its answer: the channel did not time out"
        _assert_safe_error(error, hidden)
        _assert_logs_hidden(caplog, hidden)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("kind", _CONNECTION_FAILURES)
    async def test_connection_failure_is_retryable(
        self, channel: Channel, message: Message, kind: str
    ) -> None:
        outcome = await self._send(channel, message, exception=_CONNECTION_FAILURES[kind]())
        assert isinstance(outcome.error, RetryableDeliveryError), f"expected retryable, got {outcome}"

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", _RETRYABLE_STATUSES)
    async def test_retryable_status(self, channel: Channel, message: Message, status: int) -> None:
        outcome = await self._send(channel, message, status=status, body=b'{"error": "try later"}')
        assert isinstance(outcome.error, RetryableDeliveryError), (
            f"{status}: expected retryable, got {outcome}"
        )
        assert outcome.error.provider_status == status
        assert outcome.error.retry_after is None, "no Retry-After header, so no retry_after"

    @pytest.mark.asyncio
    async def test_retry_after_in_seconds(self, channel: Channel, message: Message) -> None:
        outcome = await self._send(channel, message, status=429, headers={"Retry-After": "7"})
        assert isinstance(outcome.error, RetryableDeliveryError), f"expected retryable, got {outcome}"
        assert outcome.error.provider_status == 429
        assert outcome.error.retry_after == 7

    @pytest.mark.asyncio
    async def test_retry_after_as_http_date(self, channel: Channel, message: Message) -> None:
        later = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
        outcome = await self._send(channel, message, status=429, headers={"Retry-After": later})
        assert isinstance(outcome.error, RetryableDeliveryError), f"expected retryable, got {outcome}"
        assert outcome.error.provider_status == 429
        assert outcome.error.retry_after is not None
        assert outcome.error.retry_after > 0

    # Failures retrying cannot fix.

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", _PERMANENT_STATUSES)
    async def test_refused_status_is_permanent(self, channel: Channel, message: Message, status: int) -> None:
        outcome = await self._send(channel, message, status=status, body=b'{"error": "refused"}')
        assert isinstance(outcome.error, PermanentDeliveryError), (
            f"{status}: expected permanent, got {outcome}"
        )
        assert not isinstance(outcome.error, RecipientUnreachable), "the provider, not the address, refused"
        assert outcome.error.provider_status == status

    # Secrets.

    @pytest.mark.asyncio
    @pytest.mark.parametrize(
        ("status", "kind", "expected"),
        [
            (500, "binary", RetryableDeliveryError),
            (503, "not-json", RetryableDeliveryError),
            (400, "echo", PermanentDeliveryError),
            (401, "not-json", PermanentDeliveryError),
            (422, "binary", PermanentDeliveryError),
        ],
    )
    async def test_malformed_error_body_keeps_secrets(
        self,
        channel: Channel,
        message: Message,
        provider_token: str,
        address: str,
        hidden: tuple[str, ...],
        status: int,
        kind: str,
        expected: type[DeliveryError],
    ) -> None:
        body = _body(kind, provider_token, address)
        outcome = await self._send(channel, message, status=status, body=body)
        assert isinstance(outcome.error, expected), f"expected {expected.__name__}, got {outcome}"
        assert outcome.error.provider_status == status
        _assert_safe_error(outcome.error, hidden)

    @pytest.mark.asyncio
    @pytest.mark.parametrize("kind", _FAILURES)
    async def test_failures_log_no_secrets(
        self,
        channel: Channel,
        message: Message,
        provider_token: str,
        address: str,
        hidden: tuple[str, ...],
        caplog: pytest.LogCaptureFixture,
        kind: str,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        outcome = await self._send(channel, message, **_failure(kind, provider_token, address))
        assert outcome.error is not None, f"{kind}: expected a delivery error, got {outcome}"
        _assert_safe_error(outcome.error, hidden)
        _assert_logs_hidden(caplog, hidden)
