"""The sandbox's configuration, read once from the environment and checked at start.

A plain frozen dataclass, not pydantic-settings: the sandbox depends on aiohttp
only. An unset or empty variable takes its default; a malformed one stops the
process with one line naming it (`load_settings`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from yarl import URL

from provider_sandbox.channels import CHANNELS, EMAIL, PUSH, SMS, Channel, as_channel

DEV_EMAIL_TOKEN = "dev-email-token"  # noqa: S105 - a documented default of a loopback test tool
DEV_SMS_TOKEN = "dev-sms-token"  # noqa: S105
DEV_EMAIL_RECEIPT_SECRET = "dev-email-receipt-secret"  # noqa: S105
DEV_SMS_RECEIPT_SECRET = "dev-sms-receipt-secret"  # noqa: S105
DEV_PUSH_RECEIPT_SECRET = "dev-push-receipt-secret"  # noqa: S105

# Every variable the sandbox reads, for the deployment-file checks and the test harness.
VARIABLES = (
    "PROVIDER_SANDBOX_HOST",
    "PROVIDER_SANDBOX_PORT",
    "SANDBOX_EMAIL_TOKEN",
    "SANDBOX_SMS_TOKEN",
    "SANDBOX_PUSH_TOKEN",
    "SANDBOX_RECEIPTS_URL",
    "SANDBOX_RECEIPT_CHANNELS",
    "SANDBOX_INBOUND_URL",
    "SANDBOX_EMAIL_RECEIPT_SECRET",
    "SANDBOX_SMS_RECEIPT_SECRET",
    "SANDBOX_PUSH_RECEIPT_SECRET",
    "SANDBOX_RECEIPT_DELAY_MS",
    "SANDBOX_RECEIPT_BATCH_SIZE",
    "SANDBOX_RECEIPT_ATTEMPTS",
    "SANDBOX_RECEIPT_RETRY_BASE_MS",
    "SANDBOX_RECEIPT_TIMEOUT_SECONDS",
)

MAX_RECEIPT_DELAY_MS = 10 * 60 * 1000
MAX_BATCH_SIZE = 1000
MAX_ATTEMPTS = 20
MAX_RETRY_BASE_MS = 60 * 1000
MAX_TIMEOUT_SECONDS = 60.0

# Visible ASCII without spaces: anything else cannot travel in an Authorization header intact.
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]_-]{1,253}")
_MAX_URL_LENGTH = 2048

Number = TypeVar("Number", int, float)


class ConfigurationError(ValueError):
    """One variable has a value the sandbox cannot use; the message starts with its name."""


@dataclass(frozen=True)
class SandboxSettings:
    """Where to listen, which bearer token each channel wants, and where and how webhooks go.

    `receipts_url` and `inbound_url` are base URLs: the channel's name is
    appended (`.../receipts/sms`). None turns that kind of webhook off.
    """

    host: str = "127.0.0.1"
    port: int = 8082
    email_token: str = field(default=DEV_EMAIL_TOKEN, repr=False)
    sms_token: str = field(default=DEV_SMS_TOKEN, repr=False)
    push_token: str | None = field(default=None, repr=False)
    receipts_url: str | None = None
    receipt_channels: tuple[Channel, ...] = CHANNELS
    inbound_url: str | None = None
    email_receipt_secret: str = field(default=DEV_EMAIL_RECEIPT_SECRET, repr=False)
    sms_receipt_secret: str = field(default=DEV_SMS_RECEIPT_SECRET, repr=False)
    push_receipt_secret: str = field(default=DEV_PUSH_RECEIPT_SECRET, repr=False)
    receipt_delay_ms: int = 1000
    receipt_batch_size: int = 100
    receipt_attempts: int = 5
    receipt_retry_base_ms: int = 500
    receipt_timeout_seconds: float = 5.0

    def token_for(self, channel: Channel) -> str | None:
        return {EMAIL: self.email_token, SMS: self.sms_token, PUSH: self.push_token}[channel]

    def receipt_secret(self, channel: Channel) -> str:
        """The HMAC key that signs this channel's receipts and inbound messages."""
        return {
            EMAIL: self.email_receipt_secret,
            SMS: self.sms_receipt_secret,
            PUSH: self.push_receipt_secret,
        }[channel]

    def receipt_url(self, channel: Channel) -> str | None:
        """Where this channel's receipts go, or None when it sends none."""
        if self.receipts_url is None or channel not in self.receipt_channels:
            return None
        return _joined(self.receipts_url, channel)

    def inbound_url_for(self, channel: Channel) -> str | None:
        """Where this channel's inbound messages go, or None when inbound messages are off."""
        return None if self.inbound_url is None else _joined(self.inbound_url, channel)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SandboxSettings:
        """Read the variables below; raise ConfigurationError naming the first bad one."""
        env = os.environ if environ is None else environ

        def value(name: str) -> str | None:
            raw = env.get(name, "").strip()
            return raw or None

        host = value("PROVIDER_SANDBOX_HOST") or cls.host
        if not _HOST.fullmatch(host):
            raise ConfigurationError("PROVIDER_SANDBOX_HOST: must be a host name or IP address")
        port = _port(value("PROVIDER_SANDBOX_PORT"))

        def number(name: str, parse: Callable[[str], Number], low: Number, high: Number, default: Number):
            return _number(name, value(name), parse, low, high, default)

        return cls(
            host=host,
            port=cls.port if port is None else port,
            email_token=_token("SANDBOX_EMAIL_TOKEN", value("SANDBOX_EMAIL_TOKEN")) or DEV_EMAIL_TOKEN,
            sms_token=_token("SANDBOX_SMS_TOKEN", value("SANDBOX_SMS_TOKEN")) or DEV_SMS_TOKEN,
            push_token=_token("SANDBOX_PUSH_TOKEN", value("SANDBOX_PUSH_TOKEN")),
            receipts_url=_base_url("SANDBOX_RECEIPTS_URL", value("SANDBOX_RECEIPTS_URL")),
            receipt_channels=_channels("SANDBOX_RECEIPT_CHANNELS", value("SANDBOX_RECEIPT_CHANNELS")),
            inbound_url=_base_url("SANDBOX_INBOUND_URL", value("SANDBOX_INBOUND_URL")),
            email_receipt_secret=_token("SANDBOX_EMAIL_RECEIPT_SECRET", value("SANDBOX_EMAIL_RECEIPT_SECRET"))
            or DEV_EMAIL_RECEIPT_SECRET,
            sms_receipt_secret=_token("SANDBOX_SMS_RECEIPT_SECRET", value("SANDBOX_SMS_RECEIPT_SECRET"))
            or DEV_SMS_RECEIPT_SECRET,
            push_receipt_secret=_token("SANDBOX_PUSH_RECEIPT_SECRET", value("SANDBOX_PUSH_RECEIPT_SECRET"))
            or DEV_PUSH_RECEIPT_SECRET,
            receipt_delay_ms=number("SANDBOX_RECEIPT_DELAY_MS", int, 0, MAX_RECEIPT_DELAY_MS, 1000),
            receipt_batch_size=number("SANDBOX_RECEIPT_BATCH_SIZE", int, 1, MAX_BATCH_SIZE, 100),
            receipt_attempts=number("SANDBOX_RECEIPT_ATTEMPTS", int, 1, MAX_ATTEMPTS, 5),
            receipt_retry_base_ms=number("SANDBOX_RECEIPT_RETRY_BASE_MS", int, 0, MAX_RETRY_BASE_MS, 500),
            receipt_timeout_seconds=number(
                "SANDBOX_RECEIPT_TIMEOUT_SECONDS", float, 0.1, MAX_TIMEOUT_SECONDS, 5.0
            ),
        )


def _joined(base: str, channel: Channel) -> str:
    return f"{base.rstrip('/')}/{channel}"


def _port(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise ConfigurationError(
            f"PROVIDER_SANDBOX_PORT: must be a whole number from 1 to 65535, not {raw!r}"
        )
    return int(raw)


def _token(name: str, raw: str | None) -> str | None:
    # Never echo the value: it is a secret, even if only a test one.
    if raw is not None and not _TOKEN.fullmatch(raw):
        raise ConfigurationError(f"{name}: must be 1 to 512 visible ASCII characters, without spaces")
    return raw


def _base_url(name: str, raw: str | None) -> str | None:
    """An absolute http(s) URL without query or fragment, to which a channel's name is appended."""
    if raw is None:
        return None
    problem = f"{name}: must be an absolute http:// or https:// URL without query or fragment"
    if len(raw) > _MAX_URL_LENGTH or not raw.isascii():
        raise ConfigurationError(problem)
    try:
        url = URL(raw)
    except ValueError:
        raise ConfigurationError(problem) from None
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        raise ConfigurationError(problem)
    return raw


def _channels(name: str, raw: str | None) -> tuple[Channel, ...]:
    """A comma-separated list of channels; unset means all of them."""
    if raw is None:
        return CHANNELS
    chosen: list[Channel] = []
    for part in (piece.strip() for piece in raw.split(",")):
        if not part:
            raise ConfigurationError(f"{name}: an empty item in the list")
        channel = as_channel(part)
        if channel is None:
            raise ConfigurationError(f"{name}: {part!r} is not a channel; choose from {', '.join(CHANNELS)}")
        if channel not in chosen:
            chosen.append(channel)
    return tuple(chosen)


def _number(
    name: str, raw: str | None, parse: Callable[[str], Number], low: Number, high: Number, default: Number
) -> Number:
    if raw is None:
        return default
    try:
        number = parse(raw)
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise ConfigurationError(f"{name}: must be a number from {low} to {high}, not {raw!r}")
    return number


def load_settings(program: str, environ: Mapping[str, str] | None = None) -> SandboxSettings:
    """Settings from the environment, or exit 2 with one line naming the variable at fault."""
    try:
        return SandboxSettings.from_environ(environ)
    except ConfigurationError as exc:
        print(f"{program}: the configuration is not valid: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
