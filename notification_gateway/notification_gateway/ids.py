"""Id prefix of the gateway: `ntf_…` for notifications."""

from __future__ import annotations

from apikit.ids import new_id


def new_notification_id() -> str:
    return new_id("ntf")
