"""The plugin host: finds channel plugins through entry points, honouring an allow-list.

One plugin manager per application (kept under an app key), never a global, so
tests can load exactly the plugins they mean to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points

import pluggy

from notification_gateway import hookspecs
from notification_gateway.channels import Channel, ChannelConfigurationError

ENTRY_POINT_GROUP = "notification_gateway.channels"

log = logging.getLogger("notification_gateway.plugins")


@dataclass(frozen=True)
class InstalledChannel:
    """A channel and the plugin that provided it."""

    channel: Channel
    plugin: str
    version: str


class ChannelRegistry:
    """The channels this process can deliver through, by name."""

    def __init__(self, plugin_manager: pluggy.PluginManager, installed: Iterable[InstalledChannel]) -> None:
        self.plugin_manager = plugin_manager
        self._by_name = {entry.channel.name: entry for entry in installed}

    def __iter__(self) -> Iterator[InstalledChannel]:
        return iter(sorted(self._by_name.values(), key=lambda entry: entry.channel.name))

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Channel | None:
        entry = self._by_name.get(name)
        return entry.channel if entry else None

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)


def _version(plugin: object, default: str) -> str:
    return str(getattr(plugin, "__version__", default))


def load_channels(
    allowed: frozenset[str] | None, extra_plugins: Iterable[tuple[str, object]] = ()
) -> ChannelRegistry:
    """Register installed plugins (those in `allowed`; all if None) and `extra_plugins`; collect channels."""
    manager = pluggy.PluginManager("notification_gateway")
    manager.add_hookspecs(hookspecs)
    versions: dict[str, str] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and entry_point.name not in allowed:
            continue
        plugin = entry_point.load()
        manager.register(plugin, name=entry_point.name)
        versions[entry_point.name] = (
            entry_point.dist.version if entry_point.dist else _version(plugin, "unknown")
        )
    for name, plugin in extra_plugins:
        manager.register(plugin, name=name)
        versions[name] = _version(plugin, "unknown")

    installed: dict[str, InstalledChannel] = {}
    for name, plugin in manager.list_name_plugin():
        others = [other for other in manager.get_plugins() if other is not plugin]

        def register(channel: Channel, _plugin: str = name) -> None:
            if channel.name in installed:
                first = installed[channel.name].plugin
                message = f"plugins {first!r} and {_plugin!r} both provide {channel.name!r}"
                raise ChannelConfigurationError(message)
            installed[channel.name] = InstalledChannel(channel, _plugin, versions[_plugin])

        manager.subset_hook_caller("register_channels", remove_plugins=others)(register=register)
    log.info("channels loaded", extra={"channels": sorted(installed)})
    return ChannelRegistry(manager, installed.values())
