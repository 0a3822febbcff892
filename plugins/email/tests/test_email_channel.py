"""The e-mail channel's request, address checks, settings and plugin hook."""

from __future__ import annotations

import importlib.metadata
import secrets

import aiohttp
import pluggy
import pytest
from aioresponses import aioresponses
from yarl import URL

import notification_gateway_email
from notification_gateway import hookspecs
from notification_gateway.channels import (
    Channel,
    ChannelConfigurationError,
    Message,
    Recipient,
    RecipientUnreachable,
)
from notification_gateway.testing import StubResponse
from notification_gateway_email.channel import EmailChannel
from notification_gateway_email.settings import PRODUCTION_URL, load_settings

API_URL = "https://email.provider.invalid/deliver"


@pytest.fixture
def token() -> str:
    return f"test-{secrets.token_hex(8)}"


@pytest.fixture
def channel(token: str) -> EmailChannel:
    return EmailChannel(url=API_URL, token=token, timeout_seconds=3.5)


def _message(email: str) -> Message:
    recipient = Recipient(id="u_1", name="Ada", contacts={"email": email})
    return Message(notification_id="n_1", recipient=recipient, text="Hi Ada, your order has been placed.")


async def test_sends_exactly_the_provider_request(channel: EmailChannel, token: str) -> None:
    with aioresponses() as mocked:
        mocked.post(API_URL, status=202, payload={"id": "m_1"}, response_class=StubResponse)
        async with aiohttp.ClientSession() as session:
            receipt = await channel.send(_message("Ada@Example.COM"), session)

    assert receipt.provider_status == 202
    assert receipt.provider_reference == "m_1"
    assert list(mocked.requests) == [("POST", URL(API_URL))]
    (call,) = mocked.requests[("POST", URL(API_URL))]
    assert call.kwargs["headers"] == {"Authorization": f"Bearer {token}"}
    assert call.kwargs["json"] == {
        "recipient": "Ada@example.com",
        "message": "Hi Ada, your order has been placed.",
    }
    assert call.kwargs["data"] is None
    assert call.kwargs["timeout"].total == 3.5


def test_metadata(channel: EmailChannel) -> None:
    assert channel.name == "email"
    assert channel.recipient_field == "email"


def test_check_address_normalizes(channel: EmailChannel) -> None:
    assert channel.check_address("  ada@EXAMPLE.com ") == "ada@example.com"


@pytest.mark.parametrize(
    "value", ["ada.lovelace", "ada.lovelace@", "ada.lovelace@@example.com", "ada@localhost"]
)
def test_check_address_refuses_without_quoting(channel: EmailChannel, value: str) -> None:
    with pytest.raises(RecipientUnreachable) as caught:
        channel.check_address(value)
    assert value not in str(caught.value)


def test_settings_defaults(token: str) -> None:
    settings = load_settings({"EMAIL_API_TOKEN": token})
    assert (
        settings.url == PRODUCTION_URL == "https://dev.sanogenetics.com/dev/home-test/email-delivery-service"
    )
    assert settings.timeout_seconds == 10
    assert token not in repr(settings)


def test_settings_from_environment(token: str) -> None:
    url = "http://sandbox:8080/email"
    settings = load_settings({"EMAIL_API_URL": url, "EMAIL_API_TOKEN": token, "EMAIL_TIMEOUT_SECONDS": "2.5"})
    assert (settings.url, settings.token, settings.timeout_seconds) == (url, token, 2.5)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"EMAIL_API_TOKEN": None}, "EMAIL_API_TOKEN"),
        ({"EMAIL_API_TOKEN": "  "}, "EMAIL_API_TOKEN"),
        ({"EMAIL_TIMEOUT_SECONDS": "soon"}, "EMAIL_TIMEOUT_SECONDS"),
        ({"EMAIL_TIMEOUT_SECONDS": "0"}, "EMAIL_TIMEOUT_SECONDS"),
        ({"EMAIL_TIMEOUT_SECONDS": "-1"}, "EMAIL_TIMEOUT_SECONDS"),
        ({"EMAIL_TIMEOUT_SECONDS": "nan"}, "EMAIL_TIMEOUT_SECONDS"),
        ({"EMAIL_TIMEOUT_SECONDS": "inf"}, "EMAIL_TIMEOUT_SECONDS"),
        ({"EMAIL_API_URL": "ftp://provider.example/send"}, "EMAIL_API_URL"),
        ({"EMAIL_API_URL": "provider.example/send"}, "EMAIL_API_URL"),
        ({"EMAIL_API_URL": "https://"}, "EMAIL_API_URL"),
        ({"EMAIL_API_URL": "http://[::1"}, "EMAIL_API_URL"),
    ],
)
def test_bad_settings_name_the_variable(token: str, overrides: dict[str, str | None], variable: str) -> None:
    env = {"EMAIL_API_URL": API_URL, "EMAIL_API_TOKEN": token, **overrides}
    with pytest.raises(ChannelConfigurationError) as caught:
        load_settings({key: value for key, value in env.items() if value is not None})
    assert variable in str(caught.value)
    assert token not in str(caught.value)


def _registered() -> list[Channel]:
    manager = pluggy.PluginManager("notification_gateway")
    manager.add_hookspecs(hookspecs)
    manager.register(notification_gateway_email)
    channels: list[Channel] = []
    manager.hook.register_channels(register=channels.append)
    return channels


def test_hook_registers_one_email_channel(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv("EMAIL_API_TOKEN", token)
    monkeypatch.setenv("EMAIL_API_URL", API_URL)
    monkeypatch.setenv("EMAIL_TIMEOUT_SECONDS", "4")
    (channel,) = _registered()
    assert isinstance(channel, EmailChannel)
    assert channel.name == "email"
    assert (channel.url, channel.timeout_seconds) == (API_URL, 4)


def test_hook_refuses_to_start_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMAIL_API_TOKEN", raising=False)
    with pytest.raises(ChannelConfigurationError, match="EMAIL_API_TOKEN"):
        _registered()


def test_entry_point_names_the_plugin_module() -> None:
    (entry_point,) = importlib.metadata.entry_points(group="notification_gateway.channels", name="email")
    assert entry_point.load() is notification_gateway_email
