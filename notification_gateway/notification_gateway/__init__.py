"""Notification gateway: routes each notification to a channel plugin and delivers it, once.

Everything a channel plugin needs is importable from here; see `plugins/README.md`.
"""

from notification_gateway.contract import (
    Channel,
    ChannelConfigurationError,
    InboundMessage,
    Message,
    PermanentDeliveryError,
    ProviderReceipt,
    Receipt,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.hookspecs import hookimpl
from notification_gateway.http_channel import HttpChannel, json_receipts

__all__ = [
    "Channel",
    "ChannelConfigurationError",
    "HttpChannel",
    "InboundMessage",
    "Message",
    "PermanentDeliveryError",
    "ProviderReceipt",
    "Receipt",
    "Recipient",
    "RecipientUnreachable",
    "RetryableDeliveryError",
    "hookimpl",
    "json_receipts",
]
