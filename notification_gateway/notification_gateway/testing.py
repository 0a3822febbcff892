"""The conformance kit: checks what a channel plugin owns, against a real HTTP server on 127.0.0.1.

The gateway owns the HTTP call, the timeout, sorting answers into receipts and
retryable or permanent errors, and redaction; its own test suite covers those
once. What each plugin owns, and this kit checks, is its name and recipient
field, its address check, and its request: that one message makes one request
to its provider, carrying the token and the address, and that whatever the
provider answers, the address and the token never show in a receipt, a reason
or a log line. Messages go through the same code path the gateway's workers use.

Use it from a plugin's tests (the file name must be unique in your test tree)::

    from notification_gateway.testing import ChannelConformance
    from my_plugin import ChatChannel

    class TestChatChannel(ChannelConformance):
        channel_class = ChatChannel
        address = "@ada"                              # one the channel accepts
        unusable_addresses = ("ada", "@", "@a b")     # optional: ones it must refuse

Requirements: `pip install notification-gateway[testing]` (pytest,
pytest-asyncio). The async tests carry `pytest.mark.asyncio`, so they run under
pytest-asyncio's strict and auto modes alike; the kit needs no conftest.

A channel that reads delivery receipts (`parse_receipt`) is also checked for
them: signed receipts of each status are read, with their reference, event id
and time; unsigned, wrongly signed, stale or other-keyed ones are refused; a
repeated request reads the same event ids (so the gateway applies it once);
several receipts in any order are all read; and no garbage body gets anything
but a refusal (a 400), never another exception (a 500). The kit writes
receipts in the provider sandbox's format; a plugin for another provider
overrides `receipt_body` (and `sign`, if it signs otherwise).

Kits written for the version 1 contract, with `make_channel` and `recipient`
fixtures instead of the two attributes, still run.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer

from apikit.logs import JsonFormatter, MaskingFilter
from notification_gateway.contract import (
    CHANNEL_NAME_PATTERN,
    Channel,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    Receipt,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.http_channel import HttpChannel, ProviderSettings, address_forms, sign_webhook
from notification_gateway.receipts import WebhookRefused, WebhookUnreadable, receipts_from
from notification_gateway.sending import send

_TIMEOUT_SECONDS = 5.0
_PERMANENT_STATUSES = (400, 401, 403, 404, 422)
# A value shorter than this occurs in any sentence, so its absence proves nothing.
_MIN_CHECKED_LENGTH = 4
_RECEIPT_STATUSES = ("delivered", "undelivered", "bounced")
_GARBAGE_BODIES = (
    b"",
    b"{",
    b"5",
    b"null",
    b'"receipt"',
    b'{"a": 1}',
    b"[1]",
    b'["x"]',
    b"[null]",
    b'[{"type": "receipt"}]',
    b"\xff\xfe\x00",
    b"[" * 10_000,
)


@dataclass
class Answer:
    """What the provider answers next; `echo` puts the whole request (path, headers, body) in the body."""

    status: int = 200
    body: bytes = b'{"id": "msg_1"}'
    headers: dict[str, str] = field(default_factory=dict)
    echo: bool = False


@dataclass
class ProviderRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        """Everything the provider was told, as one string."""
        return f"{self.method} {self.path}\n{json.dumps(self.headers)}\n{self.body.decode(errors='replace')}"


class Provider:
    """A local HTTP server standing in for the provider: records requests, gives the scripted answer."""

    def __init__(self, announce: Callable[[str], None] | None = None) -> None:
        self.requests: list[ProviderRequest] = []
        self.answer = Answer()
        self.server: TestServer | None = None
        self._announce = announce

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/provider/send"))

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        recorded = ProviderRequest(request.method, request.raw_path, dict(request.headers), body)
        self.requests.append(recorded)
        if self._announce is not None:
            self._announce(recorded.text())
        answer = self.answer
        payload = answer.body
        if answer.echo:
            payload = json.dumps({"error": "echo", "request": recorded.text()}).encode()
        return web.Response(status=answer.status, body=payload, headers=answer.headers)

    def channel(
        self, channel_class: type[HttpChannel], *, token: str | None, timeout_seconds: float = 5
    ) -> Any:
        """A `channel_class` configured to send here."""
        settings = ProviderSettings(api_url=self.url, api_token=token, timeout_seconds=timeout_seconds)
        return channel_class(settings)


@asynccontextmanager
async def provider_server() -> AsyncIterator[Provider]:
    """A `Provider` listening on 127.0.0.1 for the block, for a plugin's own tests of its request."""
    provider = Provider()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider._handle)
    provider.server = TestServer(app, host="127.0.0.1", port=0)
    await provider.server.start_server(access_log=None)  # the stand-in's own log is not the gateway's
    try:
        yield provider
    finally:
        await provider.server.close()


async def deliver(channel: Channel, message: Message) -> Receipt:
    """Send `message` once through `channel` the way the gateway's workers do; raises DeliveryError."""
    async with aiohttp.ClientSession() as session:
        return await send(channel, message, session)


@contextmanager
def production_logs() -> Iterator[io.StringIO]:
    """Every log line, at DEBUG, as the gateway writes it (masking filter and JSON formatter)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _assert_hidden(text: str, hidden: tuple[str, ...], where: str) -> None:
    for secret in hidden:
        if len(secret) >= _MIN_CHECKED_LENGTH:
            assert secret.lower() not in text.lower(), f"{where} contains the token or the address"


@dataclass
class _Outcome:
    receipt: Receipt | None
    error: DeliveryError | None
    logs: str


class ChannelConformance:
    """Subclass as `Test...` and set `channel_class` and `address`; see the module docstring."""

    #: The channel under test, an HttpChannel subclass.
    channel_class: ClassVar[type[HttpChannel]]
    #: An address the channel accepts (any form check_address takes).
    address: ClassVar[str]
    #: Values of the channel's recipient field it must refuse.
    unusable_addresses: ClassVar[tuple[str, ...]] = ("", "   ")
    #: The key receipts are signed with in these tests.
    receipt_secret: ClassVar[str] = "conformance-receipt-secret"  # noqa: S105 - a test key

    def receipt_body(self, channel: Channel, receipts: list[tuple[str, str, str]]) -> bytes:
        """A provider request carrying (reference, status, event id) receipts: the sandbox's format."""
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        events = [
            {
                "id": event_id,
                "type": "receipt",
                "channel": channel.name,
                "message_id": reference,
                "status": status,
                "reason": "ok",
                "occurred_at": at,
            }
            for reference, status, event_id in receipts
        ]
        return json.dumps(events, separators=(",", ":")).encode()

    def sign(self, body: bytes, *, secret: str | None = None, now: float | None = None) -> Mapping[str, str]:
        """The headers the provider signs `body` with."""
        return sign_webhook(secret or self.receipt_secret, body, now=now)

    @pytest.fixture
    def make_channel(self) -> Callable[..., Channel]:
        """(url, token, timeout_seconds) -> a channel sending to `url`."""
        if not hasattr(self, "channel_class"):
            pytest.fail("ChannelConformance needs `channel_class = YourChannel` on the test class")

        def make(*, url: str, token: str, timeout_seconds: float) -> Channel:
            settings_class = getattr(self.channel_class, "settings_class", ProviderSettings)
            extra = (
                {"receipt_secret": self.receipt_secret}
                if "receipt_secret" in settings_class.model_fields
                else {}
            )
            settings = settings_class(api_url=url, api_token=token, timeout_seconds=timeout_seconds, **extra)
            return self.channel_class(settings)

        return make

    @pytest.fixture
    def recipient(self, make_channel: Callable[..., Channel]) -> Recipient:
        """A recipient the channel can reach."""
        if not hasattr(self, "address"):
            pytest.fail("ChannelConformance needs `address = '...'`, one the channel accepts")
        return Recipient(id="u_conformance", name="Ada Lovelace", contacts={self._field(): self.address})

    def _field(self) -> str:
        return self.channel_class.recipient_field

    @pytest.fixture
    def provider_token(self) -> str:
        return f"conformance-{secrets.token_hex(16)}"

    @pytest_asyncio.fixture
    async def provider(self) -> AsyncIterator[Provider]:
        async with provider_server() as provider:
            yield provider

    @pytest.fixture
    def channel(
        self, make_channel: Callable[..., Channel], provider: Provider, provider_token: str
    ) -> Channel:
        return make_channel(url=provider.url, token=provider_token, timeout_seconds=_TIMEOUT_SECONDS)

    @pytest.fixture
    def message(self, recipient: Recipient) -> Message:
        return Message(
            notification_id="ntf_conformance",
            recipient=recipient,
            text=f"Hi {recipient.name}, your order has been successfully placed.",
            title="Your order",
        )

    @pytest.fixture
    def hidden(self, channel: Channel, recipient: Recipient, provider_token: str) -> tuple[str, ...]:
        """What must never show: the token, and the address as given and as sent, in any encoding."""
        given = recipient.contacts[channel.recipient_field]
        forms = (*address_forms(given.strip()), *address_forms(channel.address_of(recipient)))
        return (provider_token, *forms)

    @staticmethod
    async def _send(channel: Channel, message: Message) -> _Outcome:
        receipt = error = None
        with production_logs() as logs:
            try:
                receipt = await deliver(channel, message)
            except DeliveryError as exc:
                error = exc
        return _Outcome(receipt, error, logs.getvalue())

    # The channel's description of itself.

    def test_metadata(self, channel: Channel) -> None:
        assert isinstance(channel, Channel)
        assert isinstance(channel.name, str)
        assert re.match(CHANNEL_NAME_PATTERN, channel.name), (
            f"name {channel.name!r} must match {CHANNEL_NAME_PATTERN}"
        )
        assert isinstance(channel.recipient_field, str)
        assert channel.recipient_field.isidentifier(), "recipient_field must be a non-empty identifier"
        assert isinstance(channel.description, str)

    # Its addresses.

    def test_the_address_check_is_idempotent(self, channel: Channel, recipient: Recipient) -> None:
        checked = channel.address_of(recipient)
        assert isinstance(checked, str)
        assert checked
        assert channel.check_address(checked) == checked, "a checked address must check as itself"

    @pytest.mark.asyncio
    async def test_a_recipient_without_the_field_is_unreachable_and_costs_no_request(
        self, channel: Channel, message: Message, recipient: Recipient, provider: Provider
    ) -> None:
        contacts = {k: v for k, v in recipient.contacts.items() if k != channel.recipient_field}
        bare = replace(message, recipient=replace(recipient, contacts=contacts))
        outcome = await self._send(channel, bare)
        assert isinstance(outcome.error, RecipientUnreachable), f"expected RecipientUnreachable: {outcome}"
        assert provider.requests == [], "the channel called the provider for an unreachable recipient"

    @pytest.mark.asyncio
    async def test_unusable_addresses_are_refused_without_a_request_or_a_quote(
        self,
        channel: Channel,
        message: Message,
        recipient: Recipient,
        provider: Provider,
        request: pytest.FixtureRequest,
    ) -> None:
        unusable = type(self).unusable_addresses
        if not isinstance(unusable, tuple | list):  # a version 1 kit's fixture
            unusable = request.getfixturevalue("unusable_addresses")
        for value in unusable:
            contacts = {**recipient.contacts, channel.recipient_field: value}
            bad = replace(message, recipient=replace(recipient, contacts=contacts))
            outcome = await self._send(channel, bad)
            assert isinstance(outcome.error, RecipientUnreachable), f"{value!r} was not refused: {outcome}"
            assert provider.requests == [], f"the channel called the provider for {value!r}"
            _assert_hidden(outcome.error.reason + outcome.logs, (value.strip(),), f"refusing {value!r}")

    # Its request.

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", [200, 201, 202])
    async def test_one_message_is_one_request_with_the_token_and_the_address(
        self,
        channel: Channel,
        message: Message,
        recipient: Recipient,
        provider: Provider,
        provider_token: str,
        status: int,
    ) -> None:
        provider.answer = Answer(status=status)
        outcome = await self._send(channel, message)
        assert isinstance(outcome.receipt, Receipt), f"expected a Receipt, got {outcome}"
        assert outcome.receipt.provider_status == status
        assert len(provider.requests) == 1, "one message, one request: the gateway does the retrying"
        (request,) = provider.requests
        assert request.headers.get("Authorization") == f"Bearer {provider_token}", "the token is not sent"
        sent = request.text()
        assert any(form in sent for form in address_forms(channel.address_of(recipient))), (
            "the provider was not told the address (use message.address)"
        )

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", _PERMANENT_STATUSES)
    async def test_a_provider_refusal_is_permanent_but_not_an_unreachable_recipient(
        self, channel: Channel, message: Message, provider: Provider, status: int
    ) -> None:
        provider.answer = Answer(status=status, body=b'{"error": "refused"}')
        outcome = await self._send(channel, message)
        assert isinstance(outcome.error, PermanentDeliveryError), f"{status}: expected permanent: {outcome}"
        assert not isinstance(outcome.error, RecipientUnreachable), (
            "the provider refused the request; that says nothing about the recipient's address"
        )
        assert outcome.error.provider_status == status

    @pytest.mark.asyncio
    async def test_a_busy_provider_is_retried_when_it_says(
        self, channel: Channel, message: Message, provider: Provider
    ) -> None:
        provider.answer = Answer(status=429, body=b"{}", headers={"Retry-After": "7"})
        outcome = await self._send(channel, message)
        assert isinstance(outcome.error, RetryableDeliveryError), f"expected retryable: {outcome}"
        assert (outcome.error.provider_status, outcome.error.retry_after) == (429, 7)

    @pytest.mark.asyncio
    async def test_a_failing_provider_is_retried(
        self, channel: Channel, message: Message, provider: Provider
    ) -> None:
        provider.answer = Answer(status=503, body=b'{"error": "try later"}')
        outcome = await self._send(channel, message)
        assert isinstance(outcome.error, RetryableDeliveryError), f"expected retryable: {outcome}"
        assert outcome.error.provider_status == 503

    # What it lets out.

    @pytest.mark.asyncio
    @pytest.mark.parametrize("status", [200, 400, 503])
    async def test_the_address_and_the_token_never_show(
        self, channel: Channel, message: Message, provider: Provider, hidden: tuple[str, ...], status: int
    ) -> None:
        provider.answer = Answer(status=status, echo=True)
        outcome = await self._send(channel, message)
        kept = outcome.receipt or outcome.error
        assert kept is not None
        if outcome.receipt is not None:
            _assert_hidden(repr(outcome.receipt), hidden, "the receipt")
        if outcome.error is not None:
            _assert_hidden(outcome.error.reason, hidden, "the error's reason")
            _assert_hidden(repr(outcome.error), hidden, "the error")
        _assert_hidden(outcome.logs, hidden, "a log line")

    # Its receipts, if it reads any.

    @pytest.fixture
    def receipts_channel(self, channel: Channel) -> Channel:
        if not callable(getattr(channel, "parse_receipt", None)):
            pytest.skip("the channel reads no receipts")
        return channel

    def test_signed_receipts_of_every_status_are_read(self, receipts_channel: Channel) -> None:
        sent = [(f"ref-{status}", status, f"evt-{uuid.uuid4().hex}") for status in _RECEIPT_STATUSES]
        body = self.receipt_body(receipts_channel, sent)

        read = receipts_from(receipts_channel, self.sign(body), body)

        assert [(r.reference, r.status, r.event_id) for r in read] == sent
        assert all(r.occurred_at.tzinfo is not None for r in read), "receipt times must be timezone-aware"

    @pytest.mark.parametrize("forgery", ["unsigned", "wrong key", "stale", "changed body"])
    def test_a_receipt_not_signed_by_the_provider_is_refused(self, receipts_channel: Channel, forgery: str):
        body = self.receipt_body(receipts_channel, [("ref-1", "delivered", "evt-1")])
        headers: Mapping[str, str] = {
            "unsigned": {},
            "wrong key": self.sign(body, secret="not-the-" + self.receipt_secret),
            "stale": self.sign(body, now=datetime.now(UTC).timestamp() - 3600),
            "changed body": self.sign(body.replace(b"delivered", b"bounced")),
        }[forgery]

        with pytest.raises(WebhookRefused):
            receipts_from(receipts_channel, headers, body)

    def test_a_repeated_request_reads_the_same_event_ids(self, receipts_channel: Channel) -> None:
        body = self.receipt_body(receipts_channel, [("ref-1", "delivered", "evt-1")])

        first = receipts_from(receipts_channel, self.sign(body), body)
        again = receipts_from(receipts_channel, self.sign(body), body)

        assert [r.event_id for r in first] == [r.event_id for r in again] == ["evt-1"]

    def test_receipts_in_any_order_are_all_read(self, receipts_channel: Channel) -> None:
        sent = [(f"ref-{n}", "delivered", f"evt-{n}") for n in (3, 1, 2)]
        body = self.receipt_body(receipts_channel, sent)

        read = receipts_from(receipts_channel, self.sign(body), body)

        assert [r.reference for r in read] == ["ref-3", "ref-1", "ref-2"]

    @pytest.mark.parametrize("garbage", _GARBAGE_BODIES, ids=range(len(_GARBAGE_BODIES)))
    def test_a_signed_garbage_body_is_refused_never_crashes(self, receipts_channel: Channel, garbage: bytes):
        with pytest.raises(WebhookUnreadable):
            receipts_from(receipts_channel, self.sign(garbage), garbage)


def main(argv: list[str] | None = None) -> None:
    """`python -m notification_gateway.testing [PORT]`: a stand-in provider accepting and printing all.

    For trying a new plugin in a running gateway before its provider is at hand.
    """
    port = int((argv if argv is not None else sys.argv[1:] or ["9000"])[0])
    provider = Provider(announce=lambda text: print(text, end="\n\n", flush=True))
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", provider._handle)
    print(f"a stand-in provider on http://127.0.0.1:{port}/ answers 200 to everything", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
