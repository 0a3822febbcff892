"""The hooks a channel plugin implements. Entry-point group: `notification_gateway.channels`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pluggy import HookimplMarker, HookspecMarker

if TYPE_CHECKING:
    from notification_gateway.contract import Channel

hookspec = HookspecMarker("notification_gateway")
hookimpl = HookimplMarker("notification_gateway")


@hookspec
def register_channels(register: Callable[[type[Channel] | Channel], None]) -> None:
    """Call `register(MyChannel)` once for each channel class; the gateway builds it from its settings."""
