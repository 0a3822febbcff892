"""The plugin host: entry points, allow-list, the one hook, and a core that names no plugin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import notification_gateway
from apikit.logs import masked_fields
from notification_gateway import ChannelConfigurationError, HttpChannel, cli, hookimpl, hookspecs
from notification_gateway import channels as version_1
from notification_gateway.plugins import (
    ENTRY_POINT_GROUP,
    PluginContractDeprecationWarning,
    inspect_plugins,
    load_channels,
)
from tests.notification_gateway.conftest import PigeonPlugin

CORE = Path(notification_gateway.__file__).parent


def test_installed_plugins_are_found_through_their_entry_points(provider_env):
    registry = load_channels(None)

    assert {"email", "sms"} <= set(registry.names)
    entry = {e.channel.name: e for e in registry}["sms"]
    assert (entry.plugin, entry.version) == ("sms", "0.1.0")
    assert ENTRY_POINT_GROUP == "notification_gateway.channels"


def test_the_allow_list_loads_only_what_it_names(provider_env):
    assert load_channels(frozenset()).names == []
    assert load_channels(frozenset({"email"})).names == ["email"]


def test_a_test_only_plugin_registers_through_the_same_hook():
    registry = load_channels(frozenset(), [("pigeon", PigeonPlugin())])

    assert registry.names == ["pigeon"]
    assert registry.get("pigeon").recipient_field == "loft"


def test_two_plugins_cannot_claim_one_channel_name():
    with pytest.raises(ChannelConfigurationError, match="both provide 'pigeon'"):
        load_channels(frozenset(), [("one", PigeonPlugin()), ("two", PigeonPlugin())])


def test_a_plugin_missing_its_settings_stops_the_gateway_naming_the_variable(monkeypatch):
    monkeypatch.delenv("SMS_API_TOKEN", raising=False)

    with pytest.raises(ChannelConfigurationError, match="SMS_API_TOKEN"):
        load_channels(frozenset({"sms"}))


def test_the_host_calls_every_hook():
    """A plugin implementing every hookspec sees each one called; a new, unused hook fails here."""
    specs = [
        name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "notification_gateway_spec")
    ]
    called: list[str] = []
    recorder = type("Recorder", (), {})()
    for spec in specs:
        setattr(recorder, spec, hookimpl(lambda _spec=spec: called.append(_spec)))

    load_channels(frozenset(), [("recorder", recorder)])

    assert specs == ["register_channels"]
    assert sorted(called) == specs


def test_a_registered_channel_class_is_built_from_its_settings(monkeypatch):
    class Chat(HttpChannel):
        name, recipient_field = "chat", "chat_handle"

        def build_request(self, message):
            return {}, {}

    class ChatPlugin:
        @hookimpl
        def register_channels(self, register):
            register(Chat)

    monkeypatch.setenv("CHAT_API_URL", "https://chat.example/send")
    monkeypatch.setenv("CHAT_API_TOKEN", "chat-token")
    channel = load_channels(frozenset(), [("chat", ChatPlugin())]).get("chat")

    assert isinstance(channel, Chat)
    assert channel.settings.api_url == "https://chat.example/send"
    monkeypatch.delenv("CHAT_API_TOKEN")
    with pytest.raises(ChannelConfigurationError, match=r"^CHAT_API_TOKEN is not set"):
        load_channels(frozenset(), [("chat", ChatPlugin())])


def test_a_channel_name_callers_could_not_use_stops_the_gateway():
    plugin = PigeonPlugin()
    plugin.channel.name = "Carrier Pigeon"

    with pytest.raises(
        ChannelConfigurationError, match="plugin 'birds' registers a channel named 'Carrier Pigeon'"
    ):
        load_channels(frozenset(), [("birds", plugin)])


def test_installed_channels_contact_fields_are_masked_in_logs():
    load_channels(frozenset(), [("pigeon", PigeonPlugin())])

    assert "loft" in masked_fields()


class OldChannel(version_1.Channel):
    recipient_field = "loft"

    def __init__(self, name):
        self.name = name

    async def send(self, message, session):
        return version_1.Receipt(provider_status=200)


class OldPlugin:
    @hookimpl
    def register_channels(self, register):
        register(OldChannel("old-one"))
        register(OldChannel("old-two"))


def test_a_version_1_plugin_loads_with_one_warning_naming_it():
    with pytest.warns(PluginContractDeprecationWarning) as warned:
        registry = load_channels(frozenset(), [("old-pigeons", OldPlugin()), ("pigeon", PigeonPlugin())])

    assert registry.names == ["old-one", "old-two", "pigeon"]
    assert len(warned) == 1
    assert "plugin 'old-pigeons'" in str(warned[0].message)


def test_plugins_are_reported_with_what_their_settings_lack(monkeypatch):
    monkeypatch.delenv("SMS_API_TOKEN", raising=False)
    monkeypatch.setenv("EMAIL_API_TOKEN", "email-token-value")
    monkeypatch.setenv("EMAIL_TIMEOUT_SECONDS", "soon")
    reports = {report.name: report for report in inspect_plugins(frozenset({"email", "sms"}))}

    assert reports["push"].enabled is False
    (sms,) = reports["sms"].channels
    assert sms.problem.startswith("SMS_API_TOKEN is not set")
    assert sms.variables == ["SMS_API_URL", "SMS_API_TOKEN", "SMS_TIMEOUT_SECONDS", "SMS_RECEIPT_SECRET"]
    (email,) = reports["email"].channels
    assert email.problem.startswith("EMAIL_TIMEOUT_SECONDS")
    assert "soon" not in email.problem
    assert (reports["email"].distribution, reports["email"].version) == (
        "notification-gateway-email",
        "0.1.0",
    )


def test_the_plugins_command_names_missing_settings_never_their_values(monkeypatch, capsys, provider_env):
    monkeypatch.setenv("GATEWAY_PLUGINS", "email,sms")
    assert _plugins_command() == 0
    complete = capsys.readouterr().out
    assert (
        "channel email: settings complete "
        "(EMAIL_API_URL, EMAIL_API_TOKEN, EMAIL_TIMEOUT_SECONDS, EMAIL_RECEIPT_SECRET)" in complete
    )
    assert "push: notification-gateway-push 0.1.0  (not loaded: not in GATEWAY_PLUGINS)" in complete

    monkeypatch.delenv("SMS_API_TOKEN")
    monkeypatch.setenv("SMS_API_URL", "not a url, with a password in it")
    assert _plugins_command() == 1
    incomplete = capsys.readouterr().out
    assert "channel sms: settings incomplete: SMS_API_URL: must be an http(s) URL with a host" in incomplete
    assert "password" not in incomplete
    assert "email-provider-token" not in incomplete


def _plugins_command() -> int:
    with pytest.raises(SystemExit) as exited:
        cli.main(["plugins"])
    return exited.value.code


def test_the_core_imports_no_plugin():
    plugin_packages = {"notification_gateway_email", "notification_gateway_sms", "notification_gateway_push"}
    for source in CORE.rglob("*.py"):
        tree = ast.parse(source.read_text())
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import | ast.ImportFrom)
            for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
        }
        assert not imported & plugin_packages, source
