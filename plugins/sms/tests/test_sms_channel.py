"""The SMS channel's request, number checks, settings and plugin hook."""

from __future__ import annotations

import importlib.metadata
import secrets

import aiohttp
import pluggy
import pytest
from aioresponses import aioresponses
from yarl import URL

import notification_gateway_sms
from notification_gateway import hookspecs
from notification_gateway.channels import (
    Channel,
    ChannelConfigurationError,
    Message,
    Recipient,
    RecipientUnreachable,
)
from notification_gateway.testing import StubResponse
from notification_gateway_sms.channel import SmsChannel
from notification_gateway_sms.settings import PRODUCTION_URL, load_settings

API_URL = "https://sms.provider.invalid/deliver"


@pytest.fixture
def token() -> str:
    return f"test-{secrets.token_hex(8)}"


@pytest.fixture
def channel(token: str) -> SmsChannel:
    return SmsChannel(url=API_URL, token=token, timeout_seconds=3.5)


def _message(phone_number: str) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"phone_number": phone_number})
    return Message(notification_id="n_1", recipient=recipient, text="Hi Ada, your order has been placed.")


async def test_sends_exactly_the_provider_request(channel: SmsChannel, token: str) -> None:
    with aioresponses() as mocked:
        mocked.post(API_URL, status=200, payload={"id": "s_1"}, response_class=StubResponse)
        async with aiohttp.ClientSession() as session:
            receipt = await channel.send(_message("+44 7451 277972"), session)

    assert receipt.provider_status == 200
    assert receipt.provider_reference == "s_1"
    assert list(mocked.requests) == [("POST", URL(API_URL))]
    (call,) = mocked.requests[("POST", URL(API_URL))]
    assert call.kwargs["headers"] == {"Authorization": f"Bearer {token}"}
    assert call.kwargs["json"] == {
        "recipient": "+447451277972",
        "message": "Hi Ada, your order has been placed.",
    }
    assert call.kwargs["data"] is None
    assert call.kwargs["timeout"].total == 3.5


def test_metadata(channel: SmsChannel) -> None:
    assert channel.name == "sms"
    assert channel.recipient_field == "phone_number"


@pytest.mark.parametrize(
    ("value", "e164"),
    [
        ("+447451277972", "+447451277972"),
        (" +44 7451 277972 ", "+447451277972"),
        ("+1 (202) 555-0123", "+12025550123"),
    ],
)
def test_check_address_returns_e164(channel: SmsChannel, value: str, e164: str) -> None:
    assert channel.check_address(value) == e164


@pytest.mark.parametrize("value", ["07451277972", "447451277972", "+44745", "+15555555555", "call me"])
def test_check_address_refuses_without_quoting(channel: SmsChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.check_address(value)
    assert value not in str(caught.value)


def test_settings_defaults(token: str) -> None:
    settings = load_settings({"SMS_API_TOKEN": token})
    assert settings.url == PRODUCTION_URL == "https://dev.sanogenetics.com/dev/home-test/sms-delivery-service"
    assert settings.timeout_seconds == 10
    assert token not in repr(settings)


def test_settings_from_environment(token: str) -> None:
    url = "http://sandbox:8080/sms"
    settings = load_settings({"SMS_API_URL": url, "SMS_API_TOKEN": token, "SMS_TIMEOUT_SECONDS": "2.5"})
    assert (settings.url, settings.token, settings.timeout_seconds) == (url, token, 2.5)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"SMS_API_TOKEN": None}, "SMS_API_TOKEN"),
        ({"SMS_API_TOKEN": "  "}, "SMS_API_TOKEN"),
        ({"SMS_TIMEOUT_SECONDS": "soon"}, "SMS_TIMEOUT_SECONDS"),
        ({"SMS_TIMEOUT_SECONDS": "0"}, "SMS_TIMEOUT_SECONDS"),
        ({"SMS_TIMEOUT_SECONDS": "-1"}, "SMS_TIMEOUT_SECONDS"),
        ({"SMS_TIMEOUT_SECONDS": "nan"}, "SMS_TIMEOUT_SECONDS"),
        ({"SMS_TIMEOUT_SECONDS": "inf"}, "SMS_TIMEOUT_SECONDS"),
        ({"SMS_API_URL": "ftp://provider.example/send"}, "SMS_API_URL"),
        ({"SMS_API_URL": "provider.example/send"}, "SMS_API_URL"),
        ({"SMS_API_URL": "https://"}, "SMS_API_URL"),
        ({"SMS_API_URL": "http://[::1"}, "SMS_API_URL"),
    ],
)
def test_bad_settings_name_the_variable(token: str, overrides: dict[str, str | None], variable: str) -> None:
    env = {"SMS_API_URL": API_URL, "SMS_API_TOKEN": token, **overrides}
    with pytest.raises(ChannelConfigurationError) as caught:
        load_settings({key: value for key, value in env.items() if value is not None})
    assert variable in str(caught.value)
    assert token not in str(caught.value)


def _registered() -> list[Channel]:
    manager = pluggy.PluginManager("notification_gateway")
    manager.add_hookspecs(hookspecs)
    manager.register(notification_gateway_sms)
    channels: list[Channel] = []
    manager.hook.register_channels(register=channels.append)
    return channels


def test_hook_registers_one_sms_channel(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("SMS_API_TOKEN", token)
    monkeypatch.setenv("SMS_API_URL", API_URL)
    monkeypatch.setenv("SMS_TIMEOUT_SECONDS", "4")
    (channel,) = _registered()
    assert isinstance(channel, SmsChannel)
    assert channel.name == "sms"
    assert (channel.url, channel.timeout_seconds) == (API_URL, 4)


def test_hook_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SMS_API_TOKEN", raising=False)
    with pytest.raises(ChannelConfigurationError, match="SMS_API_TOKEN"):
        _registered()


def test_entry_point_names_the_plugin_module() -> None:
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="sms")
    assert entry_point.load() is notification_gateway_sms
