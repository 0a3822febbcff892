"""The plugin host: finds channel plugins through entry points, honouring an allow-list.

One plugin manager per application (kept under an app key), never a global, so
tests can load exactly the plugins they mean to. `inspect_plugins` reports what
`load_channels` would do without refusing anything, for
`notification-gateway plugins`.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points

import pluggy

from apikit.logs import mask_fields
from notification_gateway import channels as version_1
from notification_gateway import hookspecs
from notification_gateway.contract import CHANNEL_NAME_PATTERN, Channel, ChannelConfigurationError
from notification_gateway.http_channel import HttpChannel

ENTRY_POINT_GROUP = "notification_gateway.channels"

log = logging.getLogger("notification_gateway.plugins")


class PluginContractDeprecationWarning(DeprecationWarning):
    """A plugin uses the version 1 channel contract; it works, and should move to version 2."""


@dataclass(frozen=True)
class InstalledChannel:
    """A channel and the plugin that provided it."""

    channel: Channel
    plugin: str
    version: str


@dataclass
class ChannelReport:
    """One channel a plugin registers, and what is wrong with its settings (None: complete)."""

    name: str
    variables: list[str] = field(default_factory=list)
    problem: str | None = None


@dataclass
class PluginReport:
    """One installed plugin as `notification-gateway plugins` shows it."""

    name: str
    distribution: str
    version: str
    enabled: bool
    channels: list[ChannelReport] = field(default_factory=list)
    problem: str | None = None


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

    def entry(self, name: str) -> InstalledChannel | None:
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._by_name)


def parse_allow_list(value: str | None) -> frozenset[str] | None:
    """`GATEWAY_PLUGINS`: entry-point names to load, comma-separated; None (unset) loads every plugin."""
    if value is None:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _version(plugin: object, default: str) -> str:
    return str(getattr(plugin, "__version__", default))


def _manager(
    allowed: frozenset[str] | None, extra_plugins: Iterable[tuple[str, object]]
) -> tuple[pluggy.PluginManager, list[PluginReport]]:
    """A plugin manager with every allowed plugin registered, and a report per plugin found."""
    manager = pluggy.PluginManager("notification_gateway")
    manager.add_hookspecs(hookspecs)
    reports = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        enabled = allowed is None or entry_point.name in allowed
        report = PluginReport(
            name=entry_point.name,
            distribution=entry_point.dist.name if entry_point.dist else "unknown",
            version=entry_point.dist.version if entry_point.dist else "unknown",
            enabled=enabled,
        )
        reports.append(report)
        if enabled:
            plugin = entry_point.load()
            manager.register(plugin, name=entry_point.name)
            if not entry_point.dist:
                report.version = _version(plugin, "unknown")
    for name, plugin in extra_plugins:
        manager.register(plugin, name=name)
        reports.append(PluginReport(name, "(registered in process)", _version(plugin, "unknown"), True))
    return manager, reports


def _build(registered: type[Channel] | Channel) -> Channel:
    """A channel class is built from its settings (may raise ChannelConfigurationError)."""
    if isinstance(registered, type) and issubclass(registered, Channel):
        return registered()
    if isinstance(registered, Channel):
        return registered
    raise TypeError(f"register() takes a Channel subclass or instance, not {type(registered).__name__}")


def _variables(registered: type[Channel] | Channel) -> list[str]:
    kind = registered if isinstance(registered, type) else type(registered)
    if issubclass(kind, HttpChannel):
        return kind.settings_class.variables(kind.prefix())
    return []


def _collect(
    manager: pluggy.PluginManager,
    reports: list[PluginReport],
    on_channel: Callable[[PluginReport, Channel], None],
) -> None:
    """Call each plugin's hook on its own; record channels and settings problems in its report."""
    by_name = {report.name: report for report in reports}
    for name, plugin in manager.list_name_plugin():
        report = by_name[name]
        others = [other for other in manager.get_plugins() if other is not plugin]

        def register(registered: type[Channel] | Channel, _report: PluginReport = report) -> None:
            label = getattr(registered, "name", type(registered).__name__)
            entry = ChannelReport(name=label, variables=_variables(registered))
            _report.channels.append(entry)
            try:
                channel = _build(registered)
            except ChannelConfigurationError as exc:
                entry.problem = str(exc)
                return
            on_channel(_report, channel)

        try:
            manager.subset_hook_caller("register_channels", remove_plugins=others)(register=register)
        except ChannelConfigurationError as exc:  # a version 1 plugin reads its settings in the hook
            report.problem = str(exc)


def inspect_plugins(allowed: frozenset[str] | None) -> list[PluginReport]:
    """Every installed plugin, enabled or not, with its channels and whether their settings are complete."""
    manager, reports = _manager(allowed, ())
    _collect(manager, reports, lambda report, channel: None)
    return sorted(reports, key=lambda report: report.name)


def load_channels(
    allowed: frozenset[str] | None, extra_plugins: Iterable[tuple[str, object]] = ()
) -> ChannelRegistry:
    """Register installed plugins (those in `allowed`; all if None) and `extra_plugins`; collect channels.

    Raises ChannelConfigurationError, naming the variable, when a channel's settings are incomplete, and
    when two plugins provide one channel name.
    """
    manager, reports = _manager(allowed, extra_plugins)
    installed: dict[str, InstalledChannel] = {}
    warned: set[str] = set()

    def add(report: PluginReport, channel: Channel) -> None:
        if not re.match(CHANNEL_NAME_PATTERN, str(getattr(channel, "name", ""))):
            raise ChannelConfigurationError(
                f"plugin {report.name!r} registers a channel named {getattr(channel, 'name', None)!r}; "
                "names are lower-case letters, digits, '-' and '_', starting with a letter"
            )
        if channel.name in installed:
            first = installed[channel.name].plugin
            raise ChannelConfigurationError(
                f"plugins {first!r} and {report.name!r} both provide {channel.name!r}"
            )
        if isinstance(channel, version_1.Channel) and report.name not in warned:
            warned.add(report.name)
            warnings.warn(
                f"plugin {report.name!r} ({report.distribution}) uses the version 1 channel contract "
                "(notification_gateway.channels); it still works, but will stop working in a later "
                "release: see the plugin walkthrough, plugins/README.md",
                PluginContractDeprecationWarning,
                stacklevel=2,
            )
        installed[channel.name] = InstalledChannel(channel, report.name, report.version)

    _collect(manager, reports, add)
    for report in reports:
        problems = [report.problem] + [entry.problem for entry in report.channels]
        problem = next((problem for problem in problems if problem), None)
        if report.enabled and problem:
            raise ChannelConfigurationError(problem)
    mask_fields(entry.channel.recipient_field for entry in installed.values())
    log.info("channels loaded", extra={"channels": sorted(installed)})
    return ChannelRegistry(manager, installed.values())
