"""The sandbox's configuration, read once from the environment and checked at start.

A plain frozen dataclass, not pydantic-settings: the sandbox depends on aiohttp
only. An unset or empty variable takes its default; a malformed one stops the
process with one line naming it (`load_settings`).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from provider_sandbox.channels import EMAIL, PUSH, SMS, Channel

DEV_EMAIL_TOKEN = "dev-email-token"  # noqa: S105 - a documented default of a loopback test tool
DEV_SMS_TOKEN = "dev-sms-token"  # noqa: S105

# Visible ASCII without spaces: anything else cannot travel in an Authorization header intact.
_TOKEN = re.compile(r"[\x21-\x7e]{1,512}")
_HOST = re.compile(r"[A-Za-z0-9.:\[\]_-]{1,253}")


class ConfigurationError(ValueError):
    """One variable has a value the sandbox cannot use; the message starts with its name."""


@dataclass(frozen=True)
class SandboxSettings:
    """Where to listen and which bearer token each channel wants (None: push needs none)."""

    host: str = "127.0.0.1"
    port: int = 8082
    email_token: str = field(default=DEV_EMAIL_TOKEN, repr=False)
    sms_token: str = field(default=DEV_SMS_TOKEN, repr=False)
    push_token: str | None = field(default=None, repr=False)

    def token_for(self, channel: Channel) -> str | None:
        return {EMAIL: self.email_token, SMS: self.sms_token, PUSH: self.push_token}[channel]

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
        return cls(
            host=host,
            port=cls.port if port is None else port,
            email_token=_token("SANDBOX_EMAIL_TOKEN", value("SANDBOX_EMAIL_TOKEN")) or DEV_EMAIL_TOKEN,
            sms_token=_token("SANDBOX_SMS_TOKEN", value("SANDBOX_SMS_TOKEN")) or DEV_SMS_TOKEN,
            push_token=_token("SANDBOX_PUSH_TOKEN", value("SANDBOX_PUSH_TOKEN")),
        )


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


def load_settings(program: str, environ: Mapping[str, str] | None = None) -> SandboxSettings:
    """Settings from the environment, or exit 2 with one line naming the variable at fault."""
    try:
        return SandboxSettings.from_environ(environ)
    except ConfigurationError as exc:
        print(f"{program}: the configuration is not valid: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
