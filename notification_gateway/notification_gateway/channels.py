"""Version 1 of the channel contract, kept so plugins written against it keep working.

New plugins import from the top-level package (`from notification_gateway
import HttpChannel, ...`). A plugin that registers a channel built on this
module's `Channel` still loads and delivers, and the gateway warns once, at
load, naming the plugin. The types shared by both versions are the same
objects, so a version 1 channel's errors and receipts need no translation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from notification_gateway.contract import (
    Channel as _Channel,
)
from notification_gateway.contract import (
    ChannelConfigurationError,
    DeliveryError,
    Message,
    PermanentDeliveryError,
    Receipt,
    Recipient,
    RecipientUnreachable,
    RetryableDeliveryError,
)
from notification_gateway.http_channel import (
    DEFAULT_TIMEOUT_SECONDS,
    MAX_DETAIL_CHARS,
    MAX_PROVIDER_BODY_BYTES,
    parse_retry_after,
    post_to_provider,
)
from notification_gateway.http_channel import (
    ProviderSettings as _ProviderSettings,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "MAX_DETAIL_CHARS",
    "MAX_PROVIDER_BODY_BYTES",
    "Channel",
    "ChannelConfigurationError",
    "DeliveryError",
    "Message",
    "PermanentDeliveryError",
    "ProviderSettings",
    "Receipt",
    "Recipient",
    "RecipientUnreachable",
    "RetryableDeliveryError",
    "deliver_http",
    "parse_retry_after",
    "provider_settings",
]

# Request headers whose values are credentials a provider might echo back in its body.
_SECRET_HEADER = re.compile(r"(?i)authorization|token|key|secret|signature|cookie|password")


class Channel(_Channel):
    """A version 1 channel: builds its own request in `send` (usually through `deliver_http`)."""

    def check_address(self, value: str) -> str:
        if not value.strip():
            raise RecipientUnreachable(f"empty {self.recipient_field}")
        return value.strip()


@dataclass(frozen=True)
class ProviderSettings:
    """Where and how a version 1 channel calls its provider's HTTP API."""

    url: str
    token: str | None = field(repr=False)
    timeout_seconds: float


def provider_settings(
    prefix: str,
    *,
    default_url: str | None,
    token_required: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ProviderSettings:
    """`<PREFIX>_API_URL`, `<PREFIX>_API_TOKEN` and `<PREFIX>_TIMEOUT_SECONDS`, checked as version 2 does."""
    settings = _ProviderSettings.load(
        prefix, default_url=default_url, token_required=token_required, environ=environ
    )
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return ProviderSettings(url=str(settings.api_url), token=token, timeout_seconds=settings.timeout_seconds)


async def deliver_http(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout_seconds: float,
    headers: Mapping[str, str],
    json_body: Any = None,
    data: bytes | None = None,
) -> Receipt:
    """POST to a provider within `timeout_seconds` and classify the answer (version 2: `HttpChannel`)."""
    return await post_to_provider(
        session,
        url,
        body=data if data is not None else json_body,
        headers=headers,
        timeout_seconds=timeout_seconds,
        hidden=_credentials(headers),
    )


def _credentials(headers: Mapping[str, str]) -> tuple[str, ...]:
    """The secret values among request headers, whole and without their scheme (`Bearer x` and `x`)."""
    found: list[str] = []
    for name, value in headers.items():
        if _SECRET_HEADER.search(name) and value.strip():
            found.append(value.strip())
            credential = value.strip().partition(" ")[2].strip()
            if credential:
                found.append(credential)
    return tuple(found)
