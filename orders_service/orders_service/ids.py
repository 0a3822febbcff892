"""Id prefixes of the orders service: `u_…` users, `ord_…` orders, `obx_…` outbox messages, `stf_…` staff."""

from __future__ import annotations

from apikit.ids import new_id


def new_user_id() -> str:
    return new_id("u")


def new_order_id() -> str:
    return new_id("ord")


def new_outbox_id() -> str:
    return new_id("obx")


def new_staff_id() -> str:
    return new_id("stf")
