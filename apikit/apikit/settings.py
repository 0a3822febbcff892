"""Settings pieces both services share: the environment mode and token lists."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TypeVar

from limits import parse_many
from pydantic import ValidationError
from pydantic_settings import BaseSettings

SettingsT = TypeVar("SettingsT", bound=BaseSettings)

MIN_PRODUCTION_TOKEN_LENGTH = 24


class Environment(StrEnum):
    """`development` fills in demo tokens; `production` refuses to start without real ones."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


def split_tokens(value: str | None) -> list[str]:
    """A comma-separated list, so a token can be rotated by running old and new side by side."""
    return [token.strip() for token in (value or "").split(",") if token.strip()]


def check_rate_limit(value: str) -> str:
    """A `limits` rate string such as `100/second;2000/minute`."""
    try:
        parse_many(value)
    except ValueError:
        raise ValueError("must look like 100/second or 100/second;2000/minute") from None
    return value


def load_settings(cls: type[SettingsT], program: str) -> SettingsT:
    """Build settings from the environment, or exit with one line per problem."""
    try:
        return cls()
    except ValidationError as exc:
        lines = [f"{program}: the configuration is not valid:"]
        for error in exc.errors():
            name = ".".join(map(str, error["loc"])) or "settings"
            lines.append(f"  {name.upper()}: {error['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None
