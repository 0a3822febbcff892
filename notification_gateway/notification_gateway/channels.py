"""The contract between the gateway and its channel plugins, and the helpers plugins share.

A channel says which contact point it needs (`recipient_field`), checks that a
value is usable (`check_address`), and sends one message with `send`. `send`
returns a `Receipt` when the provider accepted the message, and raises
`RetryableDeliveryError` (try again later) or `PermanentDeliveryError` (do not)
otherwise. Errors carry a `reason` that is safe to store and log: no token and
no full address.
"""

from __future__ import annotations

import json
import math
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from apikit.logs import mask

MAX_PROVIDER_BODY_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 200
_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Request headers whose values are credentials a provider might echo back in its body.
_SECRET_HEADER = re.compile(r"(?i)authorization|token|key|secret|signature|cookie|password")


@dataclass(frozen=True)
class Recipient:
    """Who to reach: an id and name, and contact points keyed by field (`email`, `phone_number`, ...)."""

    id: str
    name: str
    contacts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One rendered notification on its way to one recipient."""

    notification_id: str
    recipient: Recipient
    text: str
    title: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    """The provider accepted the message. `detail` is a short, masked summary of its answer."""

    provider_status: int
    provider_reference: str | None = None
    detail: str | None = None


class DeliveryError(Exception):
    """The message was not delivered. `reason` is safe to store and log."""

    def __init__(self, reason: str, *, provider_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider_status = provider_status


class RetryableDeliveryError(DeliveryError):
    """Try again later (timeout, connection error, 408, 429, 5xx); `retry_after` in seconds if known."""

    def __init__(
        self, reason: str, *, provider_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, provider_status=provider_status)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (other 4xx, a recipient this channel cannot reach)."""


class RecipientUnreachable(PermanentDeliveryError):
    """The recipient has no usable address for this channel."""


class ChannelConfigurationError(Exception):
    """A plugin's settings are missing or malformed; the gateway refuses to start and says which."""


@dataclass(frozen=True)
class ProviderSettings:
    """Where and how a channel calls its provider's HTTP API."""

    url: str
    token: str | None = field(repr=False)
    timeout_seconds: float


DEFAULT_TIMEOUT_SECONDS = 10.0


def provider_settings(
    prefix: str,
    *,
    default_url: str | None,
    token_required: bool = True,
    environ: Mapping[str, str] | None = None,
) -> ProviderSettings:
    """`<PREFIX>_API_URL`, `<PREFIX>_API_TOKEN` and `<PREFIX>_TIMEOUT_SECONDS`, checked.

    Errors name the variable at fault and never echo its value, so a misplaced
    token cannot end up in a start-up log.
    """
    env = os.environ if environ is None else environ
    url = env.get(f"{prefix}_API_URL", "").strip() or default_url
    if not url or not _is_http_url(url):
        raise ChannelConfigurationError(f"{prefix}_API_URL must be an http(s) URL with a host")
    token = env.get(f"{prefix}_API_TOKEN", "").strip() or None
    if token is None and token_required:
        raise ChannelConfigurationError(f"{prefix}_API_TOKEN is not set: the channel needs its API token")
    raw_timeout = env.get(f"{prefix}_TIMEOUT_SECONDS", "").strip()
    try:
        timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        timeout = math.nan
    if not math.isfinite(timeout) or timeout <= 0:
        raise ChannelConfigurationError(f"{prefix}_TIMEOUT_SECONDS must be a positive number of seconds")
    return ProviderSettings(url=url, token=token, timeout_seconds=timeout)


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Channel(ABC):
    """One way to reach people. Plugins subclass this and register instances."""

    #: Unique, lower-case name callers use, e.g. "sms".
    name: str
    #: The recipient contact field this channel needs, e.g. "phone_number".
    recipient_field: str
    #: One line for `GET /channels`.
    description: str = ""

    def check_address(self, value: str) -> str:
        """The address in the form the provider wants; raise RecipientUnreachable if unusable."""
        if not value.strip():
            raise RecipientUnreachable(f"empty {self.recipient_field}")
        return value.strip()

    def address_of(self, recipient: Recipient) -> str:
        value = recipient.contacts.get(self.recipient_field)
        if value is None:
            raise RecipientUnreachable(f"the recipient has no {self.recipient_field}")
        return self.check_address(value)

    @abstractmethod
    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        """Deliver `message` through the provider, using the gateway's shared `session`."""


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def _summary(body: bytes) -> tuple[str | None, str | None]:
    """(provider reference, short masked detail) from an untrusted provider body."""
    text = body.decode("utf-8", errors="replace")
    reference = None
    try:
        parsed: Any = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        candidate = parsed.get("id") or parsed.get("message_id")
        if isinstance(candidate, str) and _REFERENCE.match(candidate):
            reference = candidate
    # Mask before cutting, so the cut neither splits a secret past the mask nor lets `***` overflow it;
    # mask only a bounded window, since its patterns backtrack on long runs.
    window = text[: MAX_DETAIL_CHARS * 5]
    printable = "".join(char if char.isprintable() else " " for char in window)
    return reference, (mask(printable)[:MAX_DETAIL_CHARS].strip() or None)


def _credentials(headers: Mapping[str, str]) -> list[bytes]:
    """The secret values among request headers, whole and without their scheme (`Bearer x` and `x`)."""
    found: list[bytes] = []
    for name, value in headers.items():
        if _SECRET_HEADER.search(name) and value.strip():
            found.append(value.strip().encode())
            credential = value.strip().partition(" ")[2].strip()
            if credential:
                found.append(credential.encode())
    return sorted(found, key=len, reverse=True)


def _redact(body: bytes, secrets: list[bytes]) -> bytes:
    """The body without any of `secrets`, for providers that echo the request's credentials."""
    for secret in secrets:
        body = body.replace(secret, b"***")
    return body


def classify(status: int, headers: Mapping[str, str], body: bytes) -> Receipt:
    """A receipt for 2xx; otherwise raise the error the status calls for."""
    reference, detail = _summary(body)
    if 200 <= status < 300:
        return Receipt(provider_status=status, provider_reference=reference, detail=detail)
    reason = f"provider answered {status}" + (f": {detail}" if detail else "")
    if status in (408, 429) or status >= 500:
        raise RetryableDeliveryError(
            reason, provider_status=status, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    raise PermanentDeliveryError(reason, provider_status=status)


async def deliver_http(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout_seconds: float,
    headers: Mapping[str, str],
    json_body: Any = None,
    data: bytes | None = None,
) -> Receipt:
    """POST to a provider within `timeout_seconds` and classify the answer.

    Network failures are retryable; their reason names the failure's kind only,
    never the request's headers. Credentials sent in `headers` are cut out of the
    provider's answer before it is summarized, in case the provider echoes them.
    """
    try:
        async with session.post(
            url,
            json=json_body,
            data=data,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
        ) as response:
            body = await response.content.read(MAX_PROVIDER_BODY_BYTES)
            return classify(response.status, response.headers, _redact(body, _credentials(headers)))
    except TimeoutError:
        raise RetryableDeliveryError(f"provider did not answer within {timeout_seconds:g}s") from None
    except aiohttp.ClientError as exc:
        raise RetryableDeliveryError(f"provider connection failed ({type(exc).__name__})") from None
