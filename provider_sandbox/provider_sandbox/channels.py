"""The three provider channels the sandbox stands in for."""

from __future__ import annotations

from typing import Literal

Channel = Literal["email", "sms", "push"]

EMAIL: Channel = "email"
SMS: Channel = "sms"
PUSH: Channel = "push"
CHANNELS: tuple[Channel, ...] = (EMAIL, SMS, PUSH)


def as_channel(value: str) -> Channel | None:
    """The channel named `value`, or None when there is no such channel."""
    for channel in CHANNELS:
        if value == channel:
            return channel
    return None
