"""The SMS channel plugin: registers one `SmsChannel` configured from the environment."""

from __future__ import annotations

from collections.abc import Callable

from notification_gateway.channels import Channel
from notification_gateway.hookspecs import hookimpl
from notification_gateway_sms.channel import SmsChannel
from notification_gateway_sms.settings import load_settings

__all__ = ["SmsChannel", "register_channels"]


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    """Fails with ChannelConfigurationError when a setting is missing, so the gateway refuses to start."""
    settings = load_settings()
    register(SmsChannel(url=settings.url, token=settings.token, timeout_seconds=settings.timeout_seconds))
