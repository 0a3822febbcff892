"""The e-mail channel's request, address checks, default URL and plugin hook."""

from __future__ import annotations

import importlib.metadata

import pytest

import notification_gateway_email
from notification_gateway import Message, Recipient, RecipientUnreachable
from notification_gateway.plugins import load_channels
from notification_gateway.testing import deliver, provider_server
from notification_gateway_email import EmailChannel

TOKEN = "email-test-token-0123456789"


@pytest.fixture
def channel(monkeypatch) -> EmailChannel:
    monkeypatch.setenv("EMAIL_API_TOKEN", TOKEN)
    return EmailChannel()


def _message(email: str) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"email": email})
    return Message(notification_id="n_1", recipient=recipient, text="Hi Ada, your order has been placed.")


async def test_sends_exactly_the_provider_request() -> None:
    async with provider_server() as provider:
        channel = provider.channel(EmailChannel, token=TOKEN)
        receipt = await deliver(channel, _message("Ada@Example.COM"))

    assert (receipt.provider_status, receipt.provider_reference) == (200, "msg_1")
    (request,) = provider.requests
    assert (request.method, request.path) == ("POST", "/provider/send")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert (
        request.body == b'{"recipient": "Ada@example.com", "message": "Hi Ada, your order has been placed."}'
    )


def test_check_address_normalizes(channel: EmailChannel) -> None:
    assert channel.check_address("ada@EXAMPLE.com") == "ada@example.com"


@pytest.mark.parametrize(
    "value", ["ada.lovelace", "ada.lovelace@", "ada.lovelace@@example.com", "ada@localhost"]
)
def test_an_invalid_address_is_unreachable_without_quoting_it(channel: EmailChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.address_of(Recipient("u_1", "Ada", {"email": value}))
    assert value not in str(caught.value)


def test_the_default_url_is_the_delivery_api(monkeypatch) -> None:
    monkeypatch.delenv("EMAIL_API_URL", raising=False)
    monkeypatch.setenv("EMAIL_API_TOKEN", TOKEN)
    assert (
        EmailChannel().settings.api_url == "https://dev.sanogenetics.com/dev/home-test/email-delivery-service"
    )


def test_the_entry_point_registers_the_channel(monkeypatch) -> None:
    monkeypatch.setenv("EMAIL_API_TOKEN", TOKEN)
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="email")
    assert entry_point.load() is notification_gateway_email
    assert isinstance(load_channels(frozenset({"email"})).get("email"), EmailChannel)
