"""The gateway's side of `HttpChannel`, tested once for all plugins: settings, call, answer, redaction.

Providers are real HTTP servers on 127.0.0.1 (the conformance kit's stand-in, or
a socket that misbehaves); nothing is patched.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from notification_gateway import (
    Channel,
    ChannelConfigurationError,
    HttpChannel,
    Message,
    PermanentDeliveryError,
    Receipt,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.http_channel import MAX_DETAIL_CHARS, ProviderSettings
from notification_gateway.testing import Answer, deliver, provider_server

TOKEN = "chat-provider-token-0123456789abcdef"
HANDLE = "ada-lovelace-1815"


class ChatChannel(HttpChannel):
    """A channel as a plugin declares it; handles start with `@` on the wire."""

    name = "chat"
    recipient_field = "chat_handle"
    default_url = "https://chat.provider.invalid/send"

    def check_address(self, value: str) -> str:
        if not value.replace("-", "").isalnum():
            raise ValueError(f"{value} is not a chat handle")  # quotes it: the gateway must not
        return value.lower()

    def build_request(self, message: Message) -> tuple[dict, dict]:
        return {"to": f"@{message.address}", "text": message.text}, {"X-Chat-Client": "gateway"}


def _message(handle: str = HANDLE) -> Message:
    return Message("ntf_1", Recipient("u_1", "Ada", {"chat_handle": handle}), "Hi Ada")


async def _outcome(answer: Answer) -> tuple[Receipt | Exception, list]:
    async with provider_server() as provider:
        provider.answer = answer
        try:
            result: Receipt | Exception = await deliver(
                provider.channel(ChatChannel, token=TOKEN), _message()
            )
        except (RetryableDeliveryError, PermanentDeliveryError) as exc:
            result = exc
    return result, provider.requests


# The request.


async def test_the_request_is_the_plugins_body_and_headers_with_the_bearer_token():
    receipt, (request,) = await _outcome(Answer(status=202, body=b'{"id": "c_42"}'))

    assert receipt == Receipt(provider_status=202, provider_reference="c_42", detail='{"id": "c_42"}')
    assert (request.method, request.path) == ("POST", "/provider/send")
    assert json.loads(request.body) == {"to": f"@{HANDLE}", "text": "Hi Ada"}
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-Chat-Client"] == "gateway"
    assert request.headers["Content-Type"] == "application/json"


async def test_bytes_are_sent_as_they_are_and_no_token_means_no_authorization_header():
    class RawChat(ChatChannel):
        token_required = False

        def build_request(self, message: Message) -> tuple[bytes, dict]:
            return message.text.encode(), {"Content-Type": "text/plain"}

    async with provider_server() as provider:
        await deliver(provider.channel(RawChat, token=None), _message())
    (request,) = provider.requests
    assert request.body == b"Hi Ada"
    assert request.headers["Content-Type"] == "text/plain"
    assert "Authorization" not in request.headers


async def test_a_redirect_is_not_followed():
    result, requests = await _outcome(Answer(status=302, headers={"Location": "/elsewhere"}))

    assert isinstance(result, PermanentDeliveryError)
    assert result.provider_status == 302
    assert len(requests) == 1


# Sorting the answer.


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_busy_and_failing_providers_are_retried(status):
    result, _ = await _outcome(Answer(status=status, body=b'{"error": "try later"}'))

    assert isinstance(result, RetryableDeliveryError)
    assert (result.provider_status, result.retry_after) == (status, None)
    assert result.reason == f'provider answered {status}: {{"error": "try later"}}'


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_other_refusals_are_permanent_and_say_nothing_about_the_recipient(status):
    result, _ = await _outcome(Answer(status=status, body=b"{}"))

    assert isinstance(result, PermanentDeliveryError)
    assert not isinstance(result, RecipientUnreachable)
    assert result.provider_status == status


async def test_retry_after_in_seconds_and_as_a_date():
    seconds, _ = await _outcome(Answer(status=429, headers={"Retry-After": "7"}))
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=2), usegmt=True)
    dated, _ = await _outcome(Answer(status=503, headers={"Retry-After": later}))
    garbled, _ = await _outcome(Answer(status=503, headers={"Retry-After": "soon"}))

    assert seconds.retry_after == 7
    assert 0 < dated.retry_after <= 120
    assert garbled.retry_after is None


async def test_a_provider_that_does_not_answer_in_time_is_retried():
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        started.set()
        await asyncio.sleep(30)
        finished.set()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/send", slow)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server(access_log=None)
    try:
        settings = ProviderSettings(
            api_url=str(server.make_url("/send")), api_token=TOKEN, timeout_seconds=0.2
        )
        with pytest.raises(RetryableDeliveryError, match=r"did not answer within 0\.2s"):
            await deliver(ChatChannel(settings), _message())
    finally:
        await server.close()
    assert started.is_set()
    assert not finished.is_set()


async def _closing_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.transport.abort()


@pytest.mark.parametrize("kind", ["reset mid-request", "nothing listening"])
async def test_connection_failures_are_retried_naming_only_their_kind(kind):
    server = await asyncio.start_server(_closing_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if kind == "nothing listening":
        server.close()
        await server.wait_closed()
    try:
        settings = ProviderSettings(api_url=f"http://127.0.0.1:{port}/send", api_token=TOKEN)
        with pytest.raises(RetryableDeliveryError, match=r"^provider connection failed \(\w+\)$") as caught:
            await deliver(ChatChannel(settings), _message())
    finally:
        server.close()
    assert caught.value.__cause__ is None


@pytest.mark.parametrize(
    "body",
    [b"", b"<html>not json</html>", bytes(range(256)) * 4, b'{"detail": "' + b"A" * 100_000 + b'"}'],
    ids=["empty", "not-json", "binary", "huge"],
)
async def test_odd_answers_give_a_short_printable_detail(body):
    receipt, _ = await _outcome(Answer(status=200, body=body))

    assert receipt.provider_status == 200
    assert receipt.detail is None or (
        len(receipt.detail) <= MAX_DETAIL_CHARS and receipt.detail.isprintable()
    )


# Redaction: plugin authors write none.


@pytest.mark.parametrize("status", [200, 400, 503])
async def test_the_token_and_the_address_are_cut_from_what_the_provider_echoes(status, logs):
    echoed = f"Bearer {TOKEN} for @{HANDLE.upper()} and {HANDLE}".encode()
    result, _ = await _outcome(Answer(status=status, body=echoed))

    kept = result.detail if isinstance(result, Receipt) else result.reason
    assert kept.endswith("*** for @*** and ***")
    for text in (kept, repr(result), logs.getvalue()):
        assert TOKEN not in text
        assert HANDLE not in text.lower()


async def test_an_address_cut_short_by_a_length_limit_is_hidden_too():
    body = ("x" * (MAX_DETAIL_CHARS - 8) + HANDLE).encode()
    receipt, _ = await _outcome(Answer(status=200, body=body))

    assert HANDLE[:6] not in receipt.detail


async def test_an_unusable_address_is_refused_without_a_request_and_without_quoting_it():
    async with provider_server() as provider:
        channel = provider.channel(ChatChannel, token=TOKEN)
        for value in ("ada lovelace!", "", "   "):
            with pytest.raises(RecipientUnreachable) as caught:
                await deliver(channel, _message(value))
            if value.strip():
                assert value not in str(caught.value)
    assert provider.requests == []


class PlainChannel(Channel):
    """A channel with its own transport, careless with the address."""

    name = "plain"
    recipient_field = "chat_handle"

    def __init__(self, failure: Exception | None) -> None:
        self.failure = failure

    async def send(self, message: Message, session) -> Receipt:
        logging.getLogger("plain_plugin").info("sending to %s", message.address)
        if self.failure is not None:
            raise self.failure
        return Receipt(200, detail=f"queued for {message.address}")


@pytest.mark.parametrize(
    "failure",
    [None, PermanentDeliveryError(f"{HANDLE} blocked us"), KeyError(HANDLE)],
    ids=["delivered", "refused", "crashed"],
)
async def test_any_channel_gets_the_same_redaction(failure, logs):
    try:
        result: object = await deliver(PlainChannel(failure), _message())
    except (PermanentDeliveryError, RetryableDeliveryError) as exc:
        result = exc

    assert HANDLE not in repr(result)
    assert HANDLE not in logs.getvalue()
    assert "sending to ***" in logs.getvalue()
    if isinstance(failure, KeyError):
        assert isinstance(result, RetryableDeliveryError)
        assert result.reason == "channel error (KeyError)"


# Settings.


@pytest.fixture
def chat_env(monkeypatch):
    for suffix in ("API_URL", "API_TOKEN", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"CHAT_{suffix}", raising=False)
    monkeypatch.setenv("CHAT_API_TOKEN", TOKEN)
    return monkeypatch


def test_settings_come_from_the_prefixed_variables(chat_env):
    chat_env.setenv("CHAT_API_URL", "http://sandbox:8082/chat")
    chat_env.setenv("CHAT_TIMEOUT_SECONDS", "2.5")
    settings = ChatChannel().settings

    assert (settings.api_url, settings.api_token.get_secret_value(), settings.timeout_seconds) == (
        "http://sandbox:8082/chat",
        TOKEN,
        2.5,
    )
    assert TOKEN not in repr(settings)


def test_the_declared_default_url_and_timeout_apply_when_unset(chat_env):
    settings = ChatChannel().settings

    assert (settings.api_url, settings.timeout_seconds) == ("https://chat.provider.invalid/send", 10)


def test_the_prefix_defaults_to_the_name_and_can_be_declared():
    class Declared(ChatChannel):
        env_prefix = "TEAM_CHAT"

    assert ChatChannel.prefix() == "CHAT"
    assert ProviderSettings.variables(Declared.prefix()) == [
        "TEAM_CHAT_API_URL",
        "TEAM_CHAT_API_TOKEN",
        "TEAM_CHAT_TIMEOUT_SECONDS",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHAT_API_TOKEN", None),
        ("CHAT_API_TOKEN", "  "),
        ("CHAT_TIMEOUT_SECONDS", "soon"),
        ("CHAT_TIMEOUT_SECONDS", "0"),
        ("CHAT_TIMEOUT_SECONDS", "-1"),
        ("CHAT_TIMEOUT_SECONDS", "nan"),
        ("CHAT_TIMEOUT_SECONDS", "inf"),
        ("CHAT_API_URL", "ftp://provider.example/send"),
        ("CHAT_API_URL", "provider.example/send"),
        ("CHAT_API_URL", "https://"),
        ("CHAT_API_URL", "http://[::1"),
    ],
)
def test_bad_settings_stop_the_channel_naming_the_variable_never_its_value(chat_env, variable, value):
    if value is None:
        chat_env.delenv(variable)
    else:
        chat_env.setenv(variable, value)

    with pytest.raises(ChannelConfigurationError) as refused:
        ChatChannel()
    assert str(refused.value).startswith(variable)
    assert "\n" not in str(refused.value)
    assert TOKEN not in str(refused.value)
    if value and len(value.strip()) > 3:
        assert value not in str(refused.value)


def test_a_required_url_without_a_default_is_named(chat_env):
    class NoDefault(ChatChannel):
        default_url = None

    with pytest.raises(ChannelConfigurationError, match=r"^CHAT_API_URL is not set"):
        NoDefault()
