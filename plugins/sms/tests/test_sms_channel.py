"""The SMS channel's request, number checks, default URL and plugin hook."""

from __future__ import annotations

import importlib.metadata
import json

import pytest

import notification_gateway_sms
from notification_gateway import Message, Recipient, RecipientUnreachable
from notification_gateway.plugins import load_channels
from notification_gateway.testing import deliver, provider_server
from notification_gateway_sms import SmsChannel

TOKEN = "sms-test-token-0123456789"


@pytest.fixture
def channel(monkeypatch) -> SmsChannel:
    monkeypatch.setenv("SMS_API_TOKEN", TOKEN)
    return SmsChannel()


def _message(phone_number: str) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"phone_number": phone_number})
    return Message(notification_id="n_1", recipient=recipient, text="Hi Ada, your order has been placed.")


async def test_sends_exactly_the_provider_request() -> None:
    async with provider_server() as provider:
        channel = provider.channel(SmsChannel, token=TOKEN)
        receipt = await deliver(channel, _message("+44 7451 277972"))

    assert receipt.provider_status == 200
    (request,) = provider.requests
    assert (request.method, request.path) == ("POST", "/provider/send")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.body) == {
        "recipient": "+447451277972",
        "message": "Hi Ada, your order has been placed.",
    }


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("+447451277972", "+447451277972"),
        ("+44 7451 277972", "+447451277972"),
        ("+1 (202) 555-0123", "+12025550123"),
    ],
)
def test_check_address_returns_e164(channel: SmsChannel, value: str, e164: str) -> None:
    assert channel.check_address(value) == e164


@pytest.mark.parametrize("value", ["07451277972", "447451277972", "+44745", "+15555555555", "call me"])
def test_an_invalid_number_is_unreachable_without_quoting_it(channel: SmsChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.address_of(Recipient("u_1", "Ada", {"phone_number": value}))
    assert value not in str(caught.value)


def test_the_default_url_is_the_delivery_api(monkeypatch) -> None:
    monkeypatch.delenv("SMS_API_URL", raising=False)
    monkeypatch.setenv("SMS_API_TOKEN", TOKEN)
    assert SmsChannel().settings.api_url == "https://dev.sanogenetics.com/dev/home-test/sms-delivery-service"


def test_the_entry_point_registers_the_channel(monkeypatch) -> None:
    monkeypatch.setenv("SMS_API_TOKEN", TOKEN)
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="sms")
    assert entry_point.load() is notification_gateway_sms
    assert isinstance(load_channels(frozenset({"sms"})).get("sms"), SmsChannel)
