"""The push channel's request, topic checks, title encoding, settings and plugin hook."""

from __future__ import annotations

import importlib.metadata
from email.header import decode_header

import pytest

import notification_gateway_push
from notification_gateway import ChannelConfigurationError, Message, Recipient, RecipientUnreachable
from notification_gateway.plugins import load_channels
from notification_gateway.testing import deliver, provider_server
from notification_gateway_push import PushChannel
from notification_gateway_push.title import title_header

TOPIC = "kit-orders-u1-7f3a9c2e"
TEXT = "Hi Ada, your kit has shipped. Ünïcödé ✓"
TOKEN = "push-test-token-0123456789"


@pytest.fixture
def channel(monkeypatch) -> PushChannel:
    monkeypatch.setenv("PUSH_API_URL", "https://ntfy.provider.invalid")
    return PushChannel()


def _message(topic: str = TOPIC, title: str | None = None) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"push_topic": topic})
    return Message(notification_id="n_1", recipient=recipient, text=TEXT, title=title)


async def _published(message: Message, *, token: str | None = TOKEN, path: str = ""):
    """The one request the provider got for `message`, with the channel's base URL ending in `path`."""
    async with provider_server() as provider:
        channel = provider.channel(PushChannel, token=token)
        channel.settings = channel.settings.model_copy(update={"api_url": provider.url + path})
        await deliver(channel, message)
    (request,) = provider.requests
    return request


async def test_sends_exactly_the_publish_request() -> None:
    request = await _published(_message(f"  {TOPIC} ", title="Your DNA kit"))

    assert (request.method, request.path) == ("POST", f"/provider/send/{TOPIC}")
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert request.headers["Title"] == "Your DNA kit"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.body == TEXT.encode("utf-8")


async def test_no_title_and_no_token_send_neither_header() -> None:
    request = await _published(_message(title=None), token=None)
    assert "Title" not in request.headers
    assert "Authorization" not in request.headers


async def test_blank_title_sends_no_title_header() -> None:
    request = await _published(_message(title="   "))
    assert "Title" not in request.headers


@pytest.mark.parametrize("path", ["/", "//"])
async def test_trailing_slashes_are_dropped_from_the_base_url(path: str) -> None:
    request = await _published(_message(), path=path)
    assert request.path == f"/provider/send/{TOPIC}"


def test_topic_is_quoted_as_one_path_segment(channel: PushChannel) -> None:
    # check_address already refuses these; the URL builder does not rely on it.
    message = Message("n_1", Recipient("u_1", "Ada"), "hi", address="../admin?x=1#y")
    assert channel.provider_url(message) == "https://ntfy.provider.invalid/..%2Fadmin%3Fx%3D1%23y"


@pytest.mark.parametrize("value", ["a", "Kit_Orders-42", " padded ", "x" * 64])
def test_check_address_accepts_topic_names(channel: PushChannel, value: str) -> None:
    assert channel.address_of(Recipient("u_1", "Ada", {"push_topic": value})) == value.strip()


@pytest.mark.parametrize(
    "value",
    ["orders/ada", "../admin", "ada.orders", "orders ada", "bestellung-für-ada", "x" * 65, "orders\n\n-ada"],
)
def test_an_invalid_topic_is_unreachable_without_quoting_it(channel: PushChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.address_of(Recipient("u_1", "Ada", {"push_topic": value}))
    assert "push_topic" in caught.value.reason
    assert value not in str(caught.value)


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


async def test_non_ascii_title_goes_out_encoded() -> None:
    request = await _published(_message(title="Ergebnisse für Ada 🧬"))
    assert request.headers["Title"] == "=?UTF-8?B?RXJnZWJuaXNzZSBmw7xyIEFkYSDwn6es?="


# Settings and the hook.


def test_the_url_is_required_and_the_token_optional(monkeypatch) -> None:
    monkeypatch.delenv("PUSH_API_TOKEN", raising=False)
    monkeypatch.delenv("PUSH_API_URL", raising=False)
    with pytest.raises(ChannelConfigurationError, match="PUSH_API_URL"):
        PushChannel()
    monkeypatch.setenv("PUSH_API_URL", "https://ntfy.example.org/")
    assert PushChannel().credentials() == ()


def test_the_entry_point_registers_the_channel(monkeypatch) -> None:
    monkeypatch.setenv("PUSH_API_URL", "https://ntfy.example.org/")
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="push")
    assert entry_point.load() is notification_gateway_push
    assert isinstance(load_channels(frozenset({"push"})).get("push"), PushChannel)
