"""Choosing a channel: the caller's explicit choice, else the first matching rule, else a fallback.

A channel the caller named is honoured: it gets no fallback unless the request
asks for one (`"fallback": ["email"]`, or `"fallback": "routing"` for the
matching rule's list). A routed notification gets its rule's fallback list
(the file's `fallback` unless the rule has its own), and the rule's
`confirm_within`: unless a `delivered` receipt comes that soon after `sent`,
the next fallback is tried.

The same file says when each channel keeps quiet (`[quiet_hours]`) and which rules' notifications
are critical enough to be sent within quiet hours.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
    ValidationError,
    model_validator,
)

from apikit.errors import DomainError
from notification_gateway.addresses import checked_addresses
from notification_gateway.contract import Recipient
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.scheduling import QuietWindow


class UnknownChannel(DomainError):
    """The caller named a channel that is not installed."""


class Unreachable(DomainError):
    """No installed channel can reach this recipient."""


class RoutingFileError(Exception):
    """The rules file is not valid; the gateway refuses to start and says where."""


def _one_or_more(value: Any) -> Any:
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise ValueError("must be a string or a list of strings")


When = dict[str, Annotated[StrictStr | list[StrictStr], BeforeValidator(_one_or_more)]]

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_CONFIRM_WITHIN_SECONDS = 7 * 86400


def parse_duration(value: str) -> float:
    """`"10m"`, `"90s"`, `"1h30m"`, `"2d"` → seconds; ValueError for anything else."""
    text = value.strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not text or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"{value!r} is not a duration such as 30s, 10m, 1h30m or 2d")
    seconds = sum(int(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not 0 < seconds <= MAX_CONFIRM_WITHIN_SECONDS:
        raise ValueError(f"{value!r} must be more than 0 and at most 7 days")
    return seconds


def _duration(value: Any) -> Any:
    return parse_duration(value) if isinstance(value, str) else value


Duration = Annotated[float, BeforeValidator(_duration)]


class Rule(BaseModel):
    """Send to `channel` when every `when` key matches the attributes (a list means one of)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[StrictStr, Field(max_length=100)] | None = None  # quoted in event reasons
    channel: StrictStr
    when: When = Field(default_factory=dict)
    fallback: list[StrictStr] | None = None
    confirm_within: Duration | None = None
    critical: bool = Field(False, strict=True)

    def matches(self, attributes: Mapping[str, str]) -> bool:
        for key, expected in self.when.items():
            actual = attributes.get(key)
            if actual is None or (
                actual not in expected if isinstance(expected, list) else actual != expected
            ):
                return False
        return True

    def values(self, key: str) -> list[str]:
        expected = self.when[key]
        return expected if isinstance(expected, list) else [expected]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "when": dict(self.when),
            "channel": self.channel,
            "fallback": self.fallback,
            "confirm_within_seconds": self.confirm_within,
            "critical": self.critical,
        }


class QuietHours(BaseModel):
    """A channel sends nothing from `start` to `end` ("21:00" to "08:00"), in the recipient's time zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are the same time")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("times are local to the recipient: give no offset")
        return self

    def window(self) -> QuietWindow:
        return QuietWindow(self.start, self.end)


class RoutingFile(BaseModel):
    """The rules file. `attributes` declares the values callers send, so a misspelt rule cannot pass."""

    model_config = ConfigDict(extra="forbid")

    fallback: list[StrictStr] = Field(default_factory=list)
    attributes: dict[str, list[StrictStr]] | None = None
    rules: list[Rule] = Field(default_factory=list)
    quiet_hours: dict[StrictStr, QuietHours] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _rules_use_values_callers_send(self) -> RoutingFile:
        if self.attributes is None:
            return self
        for index, rule in enumerate(self.rules, 1):
            for key in rule.when:
                known = self.attributes.get(key)
                if known is None:
                    raise ValueError(f"rule {index} matches on {key!r}, which [attributes] does not declare")
                for value in rule.values(key):
                    if value not in known:
                        raise ValueError(
                            f"rule {index} matches {key} = {value!r}, which callers never send "
                            f"(declared in [attributes]: {', '.join(known)})"
                        )
        return self


def _where(error: Mapping[str, Any]) -> str:
    """`rule 2, when.kit_type: ...` from a pydantic error, one line."""
    location = list(error["loc"])
    parts = []
    if location[:1] == ["rules"] and len(location) > 1 and isinstance(location[1], int):
        parts.append(f"rule {location[1] + 1}")
        location = location[2:]
    if location:
        parts.append(".".join(str(part) for part in location))
    message = str(error["msg"]).removeprefix("Value error, ")
    return ", ".join(parts) + f": {message}" if parts else message


@dataclass(frozen=True)
class Route:
    """The channel chosen now, and the ones left to try if it fails for good."""

    channel: str
    fallbacks: tuple[str, ...]
    reason: str
    confirm_within_seconds: float | None = None
    critical: bool = False  # the matching rule's: sent within quiet hours


@dataclass(frozen=True)
class RoutingRules:
    rules: Sequence[Rule]
    fallback: Sequence[str]
    source: str

    attributes: Mapping[str, Sequence[str]] | None = None
    quiet_hours: Mapping[str, QuietWindow] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> RoutingRules:
        try:
            parsed = RoutingFile.model_validate(tomllib.loads(path.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise RoutingFileError(f"{path}: {exc}") from None
        except ValidationError as exc:
            raise RoutingFileError(f"{path}: {_where(exc.errors()[0])}") from None
        rules = tuple(
            rule if rule.name else rule.model_copy(update={"name": f"rule {index}"})
            for index, rule in enumerate(parsed.rules, 1)
        )
        return cls(
            rules=rules,
            fallback=tuple(parsed.fallback),
            source=str(path),
            attributes=parsed.attributes,
            quiet_hours={name: hours.window() for name, hours in parsed.quiet_hours.items()},
        )

    def problems(self, channels: ChannelRegistry) -> list[str]:
        """What makes a rule never apply with these channels installed, one line each, for start-up."""
        found = [
            f"routing rule {rule.name!r} names channel {rule.channel!r}, which is not installed: "
            "it never matches"
            for rule in self.rules
            if channels.get(rule.channel) is None
        ]
        lists = [self.fallback, *(rule.fallback or () for rule in self.rules)]
        found += [
            f"routing fallback {name!r} is not an installed channel: it is never used"
            for name in dict.fromkeys(name for names in lists for name in names)
            if channels.get(name) is None
        ]
        found += [
            f"quiet hours for {name!r} name no installed channel: they never apply"
            for name in self.quiet_hours
            if channels.get(name) is None
        ]
        if self.attributes is None and any(rule.when for rule in self.rules):
            found.append(
                f"{self.source} declares no [attributes], so a rule matching a value callers never "
                "send would go unnoticed"
            )
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "rules": [rule.to_dict() for rule in self.rules],
            "fallback": list(self.fallback),
            "quiet_hours": {
                name: {"start": window.start.isoformat("minutes"), "end": window.end.isoformat("minutes")}
                for name, window in self.quiet_hours.items()
            },
        }

    def resolve(
        self,
        *,
        explicit: str | None,
        attributes: Mapping[str, str],
        recipient: Recipient,
        channels: ChannelRegistry,
        fallback: Sequence[str] | str | None = None,
        addresses: Mapping[str, str] | None = None,
    ) -> Route:
        """Pick the channel and its fallbacks; raise UnknownChannel or Unreachable when none fits.

        `fallback` is the request's: None (the rule's list, or none for an explicit channel),
        `"routing"` (the rule's list), or a list of channels. `addresses` are the recipient's
        checked addresses by channel (`checked_addresses` over every channel), when the caller
        has them already: a channel reaches the recipient when it has one.
        """
        if addresses is None:
            addresses = checked_addresses(channels, channels.names, recipient)
        reachable = [name for name in channels.names if name in addresses]
        rule = next((rule for rule in self.rules if rule.matches(attributes)), None)
        confirm = rule.confirm_within if rule is not None else None
        if isinstance(fallback, list | tuple):
            for index, name in enumerate(fallback):
                if channels.get(name) is None:
                    available = ", ".join(channels.names) or "none are installed"
                    raise UnknownChannel(
                        f"No channel is called {name!r}. Available: {available}.",
                        pointer=f"#/fallback/{index}",
                    )
            wanted: Sequence[str] = fallback
        else:
            wanted = self._fallback_list(rule)
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
            if fallback is None:
                return Route(explicit, (), "requested by the caller")
            return Route(explicit, _after(explicit, wanted, reachable), "requested by the caller", confirm)
        if rule is not None and rule.channel in reachable:
            return Route(
                rule.channel,
                _after(rule.channel, wanted, reachable),
                f"rule: {rule.name}",
                confirm,
                critical=rule.critical,
            )
        for name in wanted:
            if name in reachable:
                return Route(name, _after(name, wanted, reachable), "fallback", confirm)
        raise Unreachable(
            "No installed channel can reach this recipient "
            f"(channels: {', '.join(channels.names) or 'none are installed'}).",
            pointer="#/recipient",
        )

    def _fallback_list(self, rule: Rule | None) -> Sequence[str]:
        return rule.fallback if rule is not None and rule.fallback is not None else self.fallback


def _after(chosen: str, wanted: Sequence[str], reachable: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(name for name in wanted if name != chosen and name in reachable))
