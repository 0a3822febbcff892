"""Opaque, time-ordered identifiers with a type prefix, a check of their form, and the form of a
channel name, which both services and every plugin agree on."""

from __future__ import annotations

import re

from ulid import ULID

ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"
CHANNEL_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


def new_id(prefix: str) -> str:
    """`<prefix>_<ulid>`: sorts by creation time, reveals nothing else."""
    return f"{prefix}_{str(ULID()).lower()}"


def is_well_formed(identifier: str) -> bool:
    """Could this be one of our ids? Anything else is not looked up at all."""
    return re.fullmatch(ID_PATTERN, identifier) is not None
