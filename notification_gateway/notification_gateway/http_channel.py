"""`HttpChannel`: the common case, an HTTP provider with a bearer token, the gateway making the call.

A plugin declares its channel (`name`, `recipient_field`, `check_address`) and
the provider request (`build_request`); the gateway reads its settings, makes
the one request within the timeout, sorts the answer into a receipt or a
retryable or permanent error, and cuts the token and the address out of
everything it keeps.

A channel that defines `parse_receipt` (or `parse_inbound`) also gets a
`<PREFIX>_RECEIPT_SECRET` setting, and the gateway checks each receipt's
signature before the plugin sees it: HMAC-SHA256 over `<timestamp>.<raw body>`,
sent as `sha256=<hex>` with the timestamp in its own header, refused when more
than five minutes off (`verify_webhook`; a provider signing otherwise overrides it).
A provider whose receipts come in the sandbox's JSON shape is read by `json_receipts`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from abc import abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar
from urllib.parse import quote, urlsplit

import aiohttp
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from apikit.logs import mask, redact
from notification_gateway.contract import (
    Channel,
    ChannelConfigurationError,
    Message,
    PermanentDeliveryError,
    ProviderReceipt,
    Receipt,
    RetryableDeliveryError,
)

MAX_PROVIDER_BODY_BYTES = 64 * 1024
MAX_DETAIL_CHARS = 200
DEFAULT_TIMEOUT_SECONDS = 10.0
WEBHOOK_TOLERANCE_SECONDS = 300
_REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class ProviderSettings(BaseSettings):
    """`<PREFIX>_API_URL`, `_API_TOKEN` and `_TIMEOUT_SECONDS`; see `HttpChannel.env_prefix`."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)

    api_url: str | None = None
    api_token: SecretStr | None = None
    timeout_seconds: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0, allow_inf_nan=False)

    @field_validator("api_url", "api_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not _is_http_url(value):
            raise ValueError("must be an http(s) URL with a host")
        return value

    @classmethod
    def variables(cls, prefix: str) -> list[str]:
        """The environment variables these settings are read from."""
        return [f"{prefix}_{name.upper()}" for name in cls.model_fields]

    @classmethod
    def load(
        cls,
        prefix: str,
        *,
        default_url: str | None,
        token_required: bool,
        environ: Mapping[str, str] | None = None,
    ) -> ProviderSettings:
        """Read and check; ChannelConfigurationError names the variable at fault and never its value.

        `environ`, if given, replaces the process environment.
        """
        values: dict[str, Any] = {}
        if environ is not None:
            for name, field in cls.model_fields.items():
                value = environ.get(f"{prefix}_{name.upper()}", "")
                values[name] = value if value.strip() else field.default
        try:
            settings = cls(_env_prefix=f"{prefix}_", **values)
        except ValidationError as exc:
            error = exc.errors()[0]
            variable = f"{prefix}_{str(error['loc'][0]).upper()}"
            message = error["msg"].removeprefix("Value error, ")
            raise ChannelConfigurationError(f"{variable}: {message}") from None
        url = settings.api_url or default_url
        if url is None:
            raise ChannelConfigurationError(
                f"{prefix}_API_URL is not set: the channel needs its provider's URL"
            )
        if settings.api_token is None and token_required:
            raise ChannelConfigurationError(f"{prefix}_API_TOKEN is not set: the channel needs its API token")
        return settings.model_copy(update={"api_url": url})


class ReceiptSettings(ProviderSettings):
    """`ProviderSettings` and `<PREFIX>_RECEIPT_SECRET`, the key the provider signs its receipts with.

    Unset, the channel still sends, but its receipts are refused and its notifications stop at `sent`.
    """

    receipt_secret: SecretStr | None = None

    @field_validator("receipt_secret", mode="before")
    @classmethod
    def _blank_secret_is_unset(cls, value: Any) -> Any:
        return (value.strip() or None) if isinstance(value, str) else value


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class HttpChannel(Channel):
    """A channel whose provider takes one HTTP POST per message, with `Authorization: Bearer <token>`.

    Declare `name`, `recipient_field` and `check_address`, and write `build_request`.
    Settings come from `<env_prefix>_API_URL`, `_API_TOKEN` and `_TIMEOUT_SECONDS`
    (`env_prefix` defaults to the name in capitals); `default_url` is used when
    the URL is unset, and `token_required = False` makes the token optional.
    """

    env_prefix: ClassVar[str | None] = None
    default_url: ClassVar[str | None] = None
    token_required: ClassVar[bool] = True
    #: The settings model; a capability that needs more settings extends it.
    settings_class: ClassVar[type[ProviderSettings]] = ProviderSettings

    #: Headers of the signature scheme `verify_webhook` checks.
    signature_header: ClassVar[str] = "X-Sandbox-Signature"
    timestamp_header: ClassVar[str] = "X-Sandbox-Timestamp"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A channel that reads receipts or inbound messages gets the setting holding their key."""
        super().__init_subclass__(**kwargs)
        takes_webhooks = hasattr(cls, "parse_receipt") or hasattr(cls, "parse_inbound")
        if takes_webhooks and cls.settings_class is ProviderSettings:
            cls.settings_class = ReceiptSettings

    def __init__(self, settings: ProviderSettings | None = None) -> None:
        """From the environment unless `settings` are given (tests give them)."""
        self.settings = settings if settings is not None else self.load_settings()

    @classmethod
    def prefix(cls) -> str:
        return cls.env_prefix or cls.name.upper().replace("-", "_")

    @classmethod
    def load_settings(cls) -> ProviderSettings:
        return cls.settings_class.load(
            cls.prefix(), default_url=cls.default_url, token_required=cls.token_required
        )

    @abstractmethod
    def build_request(self, message: Message) -> tuple[Any, Mapping[str, str]]:
        """The request body (sent as JSON; `bytes` are sent as they are) and headers beyond the token."""

    def provider_url(self, message: Message) -> str:
        """Where this message goes: the configured URL (a provider with the address in the path overrides)."""
        return str(self.settings.api_url)

    def credentials(self) -> tuple[str, ...]:
        token = self.settings.api_token
        secret = getattr(self.settings, "receipt_secret", None)
        return tuple(value.get_secret_value() for value in (token, secret) if value is not None)

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """HMAC-SHA256 of `<timestamp>.<body>` with `<PREFIX>_RECEIPT_SECRET`, at most five minutes old."""
        secret = getattr(self.settings, "receipt_secret", None)
        if secret is None:
            return False
        return signature_is_valid(
            secret.get_secret_value(),
            headers.get(self.timestamp_header, ""),
            headers.get(self.signature_header, ""),
            body,
        )

    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        body, headers = self.build_request(message)
        token = self.settings.api_token
        auth = {"Authorization": f"Bearer {token.get_secret_value()}"} if token is not None else {}
        return await post_to_provider(
            session,
            self.provider_url(message),
            body=body,
            headers={**auth, **headers},
            timeout_seconds=self.settings.timeout_seconds,
            hidden=(*self.credentials(), *address_forms(message.address)),
        )


def signature_is_valid(
    secret: str, timestamp: str, presented: str, body: bytes, *, now: float | None = None
) -> bool:
    """`presented` is `sha256=` and the HMAC-SHA256 of `<timestamp>.<body>`, and `timestamp` is recent."""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > WEBHOOK_TOLERANCE_SECONDS:
        return False
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + mac.hexdigest(), presented.encode("ascii", "replace").decode())


def sign_webhook(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers `verify_webhook` accepts for `body`: for tests and stand-in providers."""
    timestamp = str(int(time.time() if now is None else now))
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return {
        HttpChannel.timestamp_header: timestamp,
        HttpChannel.signature_header: "sha256=" + mac.hexdigest(),
        "Content-Type": "application/json",
    }


def json_receipts(body: bytes) -> list[ProviderReceipt]:
    """Receipts in the common JSON shape (the provider sandbox's): a list of events, each receipt
    `{"type": "receipt", "id", "message_id", "status", "occurred_at", "reason"}`, `message_id` naming
    the send's `id`; events of other types are skipped. A channel whose provider writes this returns
    it from `parse_receipt`; an unreadable body raises (ValueError, KeyError, TypeError), a 400."""
    return [
        ProviderReceipt(
            reference=event["message_id"],
            status=event["status"],
            occurred_at=datetime.fromisoformat(event["occurred_at"]),
            event_id=event["id"],
            reason=event.get("reason"),
        )
        for event in json.loads(body)
        if event["type"] == "receipt"
    ]


def address_forms(address: str) -> tuple[str, ...]:
    """The address as written, as a URL path segment and as a JSON string holds it."""
    if not address:
        return ()
    return tuple({address, quote(address, safe=""), json.dumps(address)[1:-1]})


async def post_to_provider(
    session: aiohttp.ClientSession,
    url: str,
    *,
    body: Any,
    headers: Mapping[str, str],
    timeout_seconds: float,
    hidden: tuple[str, ...] = (),
) -> Receipt:
    """POST once within `timeout_seconds` and classify the answer; `hidden` never reaches the result.

    Network failures are retryable; their reason names the failure's kind only,
    never the URL or the headers. `hidden` values (token, address) are cut out of
    the provider's answer before it is summarized, in case the provider echoes them.
    """
    payload = {"data": body} if isinstance(body, bytes) else {"json": body}
    try:
        async with session.post(
            url,
            headers=dict(headers),
            timeout=aiohttp.ClientTimeout(total=timeout_seconds),
            allow_redirects=False,
            **payload,
        ) as response:
            answer = await response.content.read(MAX_PROVIDER_BODY_BYTES)
            text = redact(answer.decode("utf-8", errors="replace"), hidden)
            return classify(response.status, response.headers, text)
    except TimeoutError:
        raise RetryableDeliveryError(f"provider did not answer within {timeout_seconds:g}s") from None
    except aiohttp.ClientError as exc:
        raise RetryableDeliveryError(f"provider connection failed ({type(exc).__name__})") from None


def classify(status: int, headers: Mapping[str, str], text: str) -> Receipt:
    """A receipt for 2xx; otherwise raise the error the status calls for (408, 429, 5xx retryable)."""
    reference, detail = _summary(text)
    if 200 <= status < 300:
        return Receipt(provider_status=status, provider_reference=reference, detail=detail)
    reason = f"provider answered {status}" + (f": {detail}" if detail else "")
    if status in (408, 429) or status >= 500:
        raise RetryableDeliveryError(
            reason, provider_status=status, retry_after=parse_retry_after(headers.get("Retry-After"))
        )
    raise PermanentDeliveryError(reason, provider_status=status)


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


def _summary(text: str) -> tuple[str | None, str | None]:
    """(provider reference, short masked detail) from an untrusted provider body."""
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
