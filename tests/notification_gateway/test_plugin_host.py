"""The plugin host: entry points, allow-list, the one hook, and a core that names no plugin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import notification_gateway
from notification_gateway import hookspecs
from notification_gateway.channels import ChannelConfigurationError
from notification_gateway.plugins import ENTRY_POINT_GROUP, load_channels
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


def test_every_hook_has_a_test():
    hooks = [
        name
        for name in dir(hookspecs)
        if getattr(getattr(hookspecs, name), "notification_gateway_spec", None)
    ]
    tested = Path(__file__).read_text()

    assert hooks == ["register_channels"]
    assert all(hook in tested for hook in hooks)  # register_channels: exercised by PigeonPlugin above


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
