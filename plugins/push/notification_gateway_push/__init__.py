"""The push channel plugin: registers one `PushChannel` configured from the environment."""

from __future__ import annotations

from collections.abc import Callable

from notification_gateway.channels import Channel
from notification_gateway.hookspecs import hookimpl
from notification_gateway_push.channel import PushChannel
from notification_gateway_push.settings import load_settings

__all__ = ["PushChannel", "register_channels"]


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    """Fails with ChannelConfigurationError when a setting is missing, so the gateway refuses to start."""
    settings = load_settings()
    register(PushChannel(url=settings.url, token=settings.token, timeout_seconds=settings.timeout_seconds))
