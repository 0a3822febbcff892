"""Notification gateway: routes each notification to a channel plugin and delivers it, once."""

from notification_gateway.hookspecs import hookimpl

__all__ = ["hookimpl"]
