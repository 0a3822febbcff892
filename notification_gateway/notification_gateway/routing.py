"""Choosing a channel: the caller's explicit choice, else the first matching rule, else a fallback."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apikit.errors import DomainError
from notification_gateway.contract import Recipient, RecipientUnreachable
from notification_gateway.plugins import ChannelRegistry


class UnknownChannel(DomainError):
    """The caller named a channel that is not installed."""


class Unreachable(DomainError):
    """No installed channel can reach this recipient."""


class RoutingFileError(Exception):
    """The rules file is not valid; the gateway refuses to start and says where."""


@dataclass(frozen=True)
class Rule:
    """Send to `channel` when every `when` key matches the attributes (a list means one of)."""

    name: str
    channel: str
    when: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)

    def matches(self, attributes: Mapping[str, str]) -> bool:
        for key, expected in self.when.items():
            actual = attributes.get(key)
            if actual is None or (
                actual not in expected if isinstance(expected, tuple) else actual != expected
            ):
                return False
        return True

    def to_dict(self) -> dict[str, Any]:
        when = {k: list(v) if isinstance(v, tuple) else v for k, v in self.when.items()}
        return {"name": self.name, "when": when, "channel": self.channel}


@dataclass(frozen=True)
class Route:
    """The channel chosen now, and the ones left to try if it fails for good."""

    channel: str
    fallbacks: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class RoutingRules:
    rules: Sequence[Rule]
    fallback: Sequence[str]
    source: str

    @classmethod
    def load(cls, path: Path) -> RoutingRules:
        try:
            document = tomllib.loads(path.read_text())
            rules = [_rule(entry, index) for index, entry in enumerate(document.get("rules", []))]
            fallback = document.get("fallback", [])
            if not isinstance(fallback, list) or not all(isinstance(name, str) for name in fallback):
                raise ValueError("`fallback` must be a list of channel names")
            unknown = set(document) - {"rules", "fallback"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
        except (OSError, tomllib.TOMLDecodeError, ValueError, TypeError) as exc:
            raise RoutingFileError(f"{path}: {exc}") from None
        return cls(rules=tuple(rules), fallback=tuple(fallback), source=str(path))

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [rule.to_dict() for rule in self.rules], "fallback": list(self.fallback)}

    def resolve(
        self,
        *,
        explicit: str | None,
        attributes: Mapping[str, str],
        recipient: Recipient,
        channels: ChannelRegistry,
    ) -> Route:
        """Pick the channel; raise UnknownChannel or Unreachable when none fits."""
        reachable = [name for name in channels.names if _reaches(channels, name, recipient)]
        if explicit is not None:
            if channels.get(explicit) is None:
                available = ", ".join(channels.names) or "none are installed"
                raise UnknownChannel(
                    f"No channel is called {explicit!r}. Available: {available}.", pointer="#/channel"
                )
            if explicit not in reachable:
                field_name = channels.get(explicit).recipient_field
                raise Unreachable(
                    f"The recipient has no usable {field_name} for the {explicit!r} channel.",
                    pointer=f"#/recipient/{field_name}",
                )
            return Route(explicit, self._fallbacks_after(explicit, reachable), "requested by the caller")
        rule = next((rule for rule in self.rules if rule.matches(attributes)), None)
        if rule is not None and rule.channel in reachable:
            return Route(rule.channel, self._fallbacks_after(rule.channel, reachable), f"rule: {rule.name}")
        for name in self.fallback:
            if name in reachable:
                return Route(name, self._fallbacks_after(name, reachable), "fallback")
        raise Unreachable(
            "No installed channel can reach this recipient "
            f"(channels: {', '.join(channels.names) or 'none are installed'}).",
            pointer="#/recipient",
        )

    def _fallbacks_after(self, chosen: str, reachable: Sequence[str]) -> tuple[str, ...]:
        return tuple(name for name in self.fallback if name != chosen and name in reachable)


def _reaches(channels: ChannelRegistry, name: str, recipient: Recipient) -> bool:
    try:
        channels.get(name).address_of(recipient)
    except RecipientUnreachable:
        return False
    return True


def _rule(entry: Any, index: int) -> Rule:
    if not isinstance(entry, dict) or not isinstance(entry.get("channel"), str):
        raise ValueError(f"rule {index + 1} needs a `channel`")
    when = entry.get("when", {})
    if not isinstance(when, dict):
        raise ValueError(f"rule {index + 1}: `when` must be a table")
    parsed: dict[str, str | tuple[str, ...]] = {}
    for key, value in when.items():
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            parsed[key] = tuple(value)
        elif isinstance(value, str):
            parsed[key] = value
        else:
            raise ValueError(f"rule {index + 1}: `when.{key}` must be a string or a list of strings")
    extra = set(entry) - {"name", "when", "channel"}
    if extra:
        raise ValueError(f"rule {index + 1}: unknown keys {sorted(extra)}")
    return Rule(name=str(entry.get("name", f"rule {index + 1}")), channel=entry["channel"], when=parsed)
