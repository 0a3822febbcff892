"""The push channel's request, topic checks, title encoding, redaction, settings and plugin hook."""

from __future__ import annotations

import importlib.metadata
import json
import secrets
from email.header import decode_header

import aiohttp
import pluggy
import pytest
from aioresponses import aioresponses
from yarl import URL

import notification_gateway_push
from notification_gateway import hookspecs
from notification_gateway.channels import (
    Channel,
    ChannelConfigurationError,
    Message,
    PermanentDeliveryError,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.testing import StubResponse
from notification_gateway_push.channel import PushChannel
from notification_gateway_push.redaction import without_topic
from notification_gateway_push.settings import load_settings
from notification_gateway_push.title import title_header

BASE_URL = "https://ntfy.provider.invalid"
TOPIC = "kit-orders-u1-7f3a9c2e"
TOPIC_URL = f"{BASE_URL}/{TOPIC}"
TEXT = "Hi Ada, your kit has shipped. Ünïcödé ✓"


@pytest.fixture
def token() -> str:
    return f"tk_{secrets.token_hex(8)}"


@pytest.fixture
def channel(token: str) -> PushChannel:
    return PushChannel(url=BASE_URL, token=token, timeout_seconds=3.5)


def _message(topic: str = TOPIC, title: str | None = None) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"push_topic": topic})
    return Message(notification_id="n_1", recipient=recipient, text=TEXT, title=title)


async def _send(channel: PushChannel, message: Message, url: str = TOPIC_URL, **answer) -> tuple:
    """Send once against a stubbed provider; (receipt, the one request's keyword arguments)."""
    answer = answer or {"status": 200, "payload": {"id": "Xy12ab", "event": "message", "topic": TOPIC}}
    with aioresponses() as mocked:
        mocked.post(url, response_class=StubResponse, **answer)
        async with aiohttp.ClientSession() as session:
            receipt = await channel.send(message, session)
    assert list(mocked.requests) == [("POST", URL(url))]
    (call,) = mocked.requests[("POST", URL(url))]
    return receipt, call.kwargs


async def test_sends_exactly_the_publish_request(channel: PushChannel, token: str) -> None:
    receipt, request = await _send(channel, _message(f"  {TOPIC} ", title="Your DNA kit"))

    assert receipt.provider_status == 200
    assert receipt.provider_reference == "Xy12ab"
    assert request["headers"] == {
        "Content-Type": "text/plain; charset=utf-8",
        "Title": "Your DNA kit",
        "Authorization": f"Bearer {token}",
    }
    assert request["data"] == TEXT.encode("utf-8")
    assert request["json"] is None
    assert request["timeout"].total == 3.5
    assert request["allow_redirects"] is False


async def test_no_title_and_no_token_send_neither_header() -> None:
    channel = PushChannel(url=BASE_URL, token=None, timeout_seconds=10)
    _, request = await _send(channel, _message(title=None))
    assert request["headers"] == {"Content-Type": "text/plain; charset=utf-8"}


async def test_blank_title_sends_no_title_header(channel: PushChannel) -> None:
    _, request = await _send(channel, _message(title="   "))
    assert "Title" not in request["headers"]


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://ntfy.provider.invalid/", TOPIC_URL),
        ("https://ntfy.provider.invalid//", TOPIC_URL),
        ("http://sandbox.invalid:8082/push/", f"http://sandbox.invalid:8082/push/{TOPIC}"),
    ],
)
async def test_trailing_slash_is_dropped_from_the_base_url(base_url: str, url: str) -> None:
    channel = PushChannel(url=base_url, token=None, timeout_seconds=10)
    await _send(channel, _message(), url=url)


def test_topic_is_quoted_as_one_path_segment(channel: PushChannel) -> None:
    # check_address already refuses these; the URL builder does not rely on it.
    assert channel.topic_url("../admin?x=1#y") == f"{BASE_URL}/..%2Fadmin%3Fx%3D1%23y"


async def test_accepted_answer_does_not_keep_the_topic(channel: PushChannel) -> None:
    answer = {"id": "Xy12ab", "time": 1, "event": "message", "topic": TOPIC, "message": "Hi"}
    receipt, _ = await _send(channel, _message(), status=200, body=json.dumps(answer))
    assert receipt.detail is not None
    assert '"topic": "***"' in receipt.detail
    assert TOPIC not in repr(receipt)


@pytest.mark.parametrize(("status", "error"), [(400, PermanentDeliveryError), (503, RetryableDeliveryError)])
async def test_errors_do_not_keep_the_topic(
    channel: PushChannel, status: int, error: type[Exception]
) -> None:
    body = json.dumps({"error": f"topic {TOPIC} is over its quota"})
    headers = {"Retry-After": "3"}
    with pytest.raises(error) as caught:
        await _send(channel, _message(), status=status, body=body, headers=headers)
    assert TOPIC not in str(caught.value)
    assert "topic *** is over its quota" in caught.value.reason
    assert caught.value.provider_status == status
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__
    if status == 503:
        assert caught.value.retry_after == 3


def test_a_topic_cut_short_at_the_end_is_hidden_too() -> None:
    assert without_topic(f"sent to {TOPIC[:9]}", TOPIC) == "sent to ***"
    assert without_topic("sent to kit", TOPIC) == "sent to kit"  # too short to tell from text


def test_metadata(channel: PushChannel) -> None:
    assert channel.name == "push"
    assert channel.recipient_field == "push_topic"


@pytest.mark.parametrize("value", ["a", "Kit_Orders-42", " padded ", "x" * 64])
def test_check_address_accepts_topic_names(channel: PushChannel, value: str) -> None:
    assert channel.check_address(value) == value.strip()


@pytest.mark.parametrize(
    "value", ["", "orders/ada", "../admin", "ada.orders", "orders ada", "bestellung-für-ada", "x" * 65]
)
def test_check_address_refuses_without_quoting(channel: PushChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.check_address(value)
    assert "push_topic" in caught.value.reason
    if value:
        assert value not in str(caught.value)


def test_check_address_refuses_a_trailing_newline(channel: PushChannel) -> None:
    with pytest.raises(RecipientUnreachable):
        channel.check_address("orders\n\n-ada")


# The title header.


@pytest.mark.parametrize("title", ["Your DNA kit", "Results: 2 of 3 ready (50%)"])
def test_printable_ascii_title_is_sent_as_is(title: str) -> None:
    assert title_header(title) == title


def _decoded(value: str) -> str:
    return "".join(
        part.decode(charset or "ascii") if isinstance(part, bytes) else part
        for part, charset in decode_header(value)
    )


@pytest.mark.parametrize(
    "title",
    [
        "Café results",  # latin-1, but ntfy reads headers as UTF-8
        "Ihre Ergebnisse ✓ 🧬",
        "Line one\nline two\ttabbed",
        "=?UTF-8?B?Zm9v?= is not encoded",
        "結果が届きました。" * 20,
    ],
)
def test_other_titles_are_rfc_2047_encoded_words(title: str) -> None:
    value = title_header(title)
    value.encode("ascii")  # any header library can send it
    words = value.split(" ")
    assert all(word.startswith("=?UTF-8?B?") and word.endswith("?=") for word in words)
    assert all(len(word) <= 75 for word in words)
    assert _decoded(value) == title
    assert all(_decoded(word) for word in words), "each word holds whole characters"


async def test_non_ascii_title_goes_out_encoded(channel: PushChannel) -> None:
    _, request = await _send(channel, _message(title="Ergebnisse für Ada 🧬"))
    assert request["headers"]["Title"] == "=?UTF-8?B?RXJnZWJuaXNzZSBmw7xyIEFkYSDwn6es?="


# Settings.


def test_settings_url_required_token_optional() -> None:
    settings = load_settings({"PUSH_API_URL": "https://ntfy.example.org/"})
    assert (settings.url, settings.token, settings.timeout_seconds) == ("https://ntfy.example.org/", None, 10)


def test_settings_from_environment(token: str) -> None:
    url = "http://sandbox:8082/push"
    settings = load_settings({"PUSH_API_URL": url, "PUSH_API_TOKEN": token, "PUSH_TIMEOUT_SECONDS": "2.5"})
    assert (settings.url, settings.token, settings.timeout_seconds) == (url, token, 2.5)
    assert token not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"PUSH_API_URL": None}, "PUSH_API_URL"),
        ({"PUSH_API_URL": "  "}, "PUSH_API_URL"),
        ({"PUSH_API_URL": "ntfy.example.org"}, "PUSH_API_URL"),
        ({"PUSH_API_URL": "ftp://ntfy.example.org"}, "PUSH_API_URL"),
        ({"PUSH_TIMEOUT_SECONDS": "soon"}, "PUSH_TIMEOUT_SECONDS"),
        ({"PUSH_TIMEOUT_SECONDS": "0"}, "PUSH_TIMEOUT_SECONDS"),
        ({"PUSH_TIMEOUT_SECONDS": "-1"}, "PUSH_TIMEOUT_SECONDS"),
        ({"PUSH_TIMEOUT_SECONDS": "nan"}, "PUSH_TIMEOUT_SECONDS"),
    ],
)
def test_bad_settings_name_the_variable(token: str, overrides: dict[str, str | None], variable: str) -> None:
    env = {"PUSH_API_URL": BASE_URL, "PUSH_API_TOKEN": token, **overrides}
    with pytest.raises(ChannelConfigurationError) as caught:
        load_settings({key: value for key, value in env.items() if value is not None})
    assert variable in str(caught.value)
    assert token not in str(caught.value)


# The plugin hook.


def _registered() -> list[Channel]:
    manager = pluggy.PluginManager("notification_gateway")
    manager.add_hookspecs(hookspecs)
    manager.register(notification_gateway_push)
    channels: list[Channel] = []
    manager.hook.register_channels(register=channels.append)
    return channels


def test_hook_registers_one_push_channel(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("PUSH_API_URL", f"{BASE_URL}/")
    monkeypatch.setenv("PUSH_API_TOKEN", token)
    monkeypatch.setenv("PUSH_TIMEOUT_SECONDS", "4")
    (channel,) = _registered()
    assert isinstance(channel, PushChannel)
    assert channel.name == "push"
    assert (channel.url, channel.timeout_seconds) == (BASE_URL, 4)


def test_hook_refuses_to_start_without_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PUSH_API_URL", raising=False)
    with pytest.raises(ChannelConfigurationError, match="PUSH_API_URL"):
        _registered()


def test_entry_point_names_the_plugin_module() -> None:
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="push")
    assert entry_point.load() is notification_gateway_push
