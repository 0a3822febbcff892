"""Opaque, time-ordered identifiers with a type prefix (`u_…` for users, `ord_…` for orders)."""

from __future__ import annotations

from ulid import ULID


def new_user_id() -> str:
    return f"u_{str(ULID()).lower()}"


def new_order_id() -> str:
    return f"ord_{str(ULID()).lower()}"
