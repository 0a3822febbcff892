"""Choosing a channel: the caller's explicit choice, else the first matching rule, else a fallback.

The same file says when each channel keeps quiet (`[quiet_hours]`) and which rules' notifications
are critical enough to be sent within quiet hours.
"""

from __future__ import annotations

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
from notification_gateway.contract import Recipient, RecipientUnreachable
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


class Rule(BaseModel):
    """Send to `channel` when every `when` key matches the attributes (a list means one of)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StrictStr | None = None
    channel: StrictStr
    when: When = Field(default_factory=dict)
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
        found += [
            f"routing fallback {name!r} is not an installed channel: it is never used"
            for name in self.fallback
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
            return Route(
                rule.channel,
                self._fallbacks_after(rule.channel, reachable),
                f"rule: {rule.name}",
                critical=rule.critical,
            )
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
