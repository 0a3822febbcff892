"""Opaque, time-ordered identifiers with a type prefix (`u_…` for users, `ord_…` for orders)."""

from __future__ import annotations

import re

from ulid import ULID

ID_PATTERN = r"^[A-Za-z0-9_-]{1,40}$"


def is_well_formed(identifier: str) -> bool:
    """Could this be one of our ids? Anything else is not looked up at all."""
    return re.fullmatch(ID_PATTERN, identifier) is not None


def new_user_id() -> str:
    return f"u_{str(ULID()).lower()}"


def new_order_id() -> str:
    return f"ord_{str(ULID()).lower()}"
