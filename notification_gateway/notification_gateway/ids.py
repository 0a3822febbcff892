"""Id prefixes of the gateway: `ntf_…` notifications, `msg_…` status callbacks, `sup_…` suppressions."""

from __future__ import annotations

from apikit.ids import new_id


def new_notification_id() -> str:
    return new_id("ntf")


def new_callback_id() -> str:
    """Also the callback's `webhook-id`, stable across its retries."""
    return new_id("msg")


def new_suppression_id() -> str:
    return new_id("sup")
