"""The orders service's configuration, read from the environment and checked at start."""

from __future__ import annotations

from typing import Self

from pydantic import Field, HttpUrl, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from apikit.auth import Principal, TokenRegistry
from apikit.database import SqliteSynchronous
from apikit.settings import MIN_PRODUCTION_TOKEN_LENGTH, Environment, check_rate_limit, split_tokens
from apikit.tracing import TracingSettings

DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - a documented development default, refused in production
DEV_SUPPORT_TOKEN = "dev-support-token"  # noqa: S105
DEV_GATEWAY_TOKEN = "dev-gateway-token"  # noqa: S105 - the gateway's own development default
DEV_WEBHOOK_SECRET = "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRvLW5vdC11c2U="  # noqa: S105 - base64 of a dev phrase

ADMIN, SUPPORT = "admin", "support"


class OrdersSettings(TracingSettings):
    """Every variable is listed in `.env.example` and the README."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    environment: Environment = Field(Environment.PRODUCTION, alias="APP_ENV")
    database_url: str = Field("sqlite://var/orders.sqlite3", alias="ORDERS_DATABASE_URL")
    # FULL unless a deployment accepts losing the last commits on power loss for faster commits.
    sqlite_synchronous: SqliteSynchronous = Field("FULL", alias="ORDERS_SQLITE_SYNCHRONOUS")
    host: str = Field("127.0.0.1", alias="ORDERS_HOST")
    port: int = Field(8080, ge=1, le=65535, alias="ORDERS_PORT")
    admin_tokens: SecretStr | None = Field(None, alias="ADMIN_TOKEN")
    support_tokens: SecretStr | None = Field(None, alias="SUPPORT_TOKEN")
    max_body_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024, alias="ORDERS_MAX_BODY_BYTES")
    rate_limit: str = Field("50/second;1000/minute", alias="ORDERS_RATE_LIMIT")
    default_phone_region: str = Field("GB", pattern=r"^[A-Z]{2}$", alias="DEFAULT_PHONE_REGION")
    gateway_url: HttpUrl = Field("http://127.0.0.1:8081", alias="ORDERS_GATEWAY_URL")
    gateway_token: SecretStr | None = Field(None, alias="ORDERS_GATEWAY_TOKEN")
    gateway_timeout_seconds: float = Field(5.0, gt=0, le=60, alias="ORDERS_GATEWAY_TIMEOUT_SECONDS")
    callback_url: HttpUrl | None = Field(
        "http://127.0.0.1:8080/webhooks/notifications", alias="ORDERS_CALLBACK_URL"
    )
    webhook_secret: SecretStr | None = Field(None, alias="ORDERS_WEBHOOK_SECRET")
    relay_enabled: bool = Field(True, alias="ORDERS_RELAY_ENABLED")
    relay_concurrency: int = Field(8, ge=1, le=256, alias="ORDERS_RELAY_CONCURRENCY")
    relay_poll_seconds: float = Field(0.2, gt=0, le=60, alias="ORDERS_RELAY_POLL_SECONDS")
    relay_retry_base_seconds: float = Field(0.5, gt=0, le=3600, alias="ORDERS_RELAY_RETRY_BASE_SECONDS")
    relay_retry_max_seconds: float = Field(30.0, gt=0, le=86400, alias="ORDERS_RELAY_RETRY_MAX_SECONDS")
    relay_lease_seconds: float = Field(30.0, ge=1, le=3600, alias="ORDERS_RELAY_LEASE_SECONDS")
    retention_idempotency_hours: float = Field(24, ge=0, alias="ORDERS_RETENTION_IDEMPOTENCY_HOURS")
    retention_webhook_receipts_days: float = Field(7, ge=0, alias="ORDERS_RETENTION_WEBHOOK_RECEIPTS_DAYS")
    retention_sent_outbox_days: float = Field(7, ge=0, alias="ORDERS_RETENTION_SENT_OUTBOX_DAYS")
    purge_enabled: bool = Field(True, alias="ORDERS_PURGE_ENABLED")
    purge_interval_seconds: float = Field(300, ge=1, le=86400, alias="ORDERS_PURGE_INTERVAL_SECONDS")
    purge_batch_size: int = Field(1000, ge=1, le=100_000, alias="ORDERS_PURGE_BATCH_SIZE")
    session_idle_seconds: int = Field(1800, ge=60, le=86400, alias="ORDERS_SESSION_IDLE_SECONDS")
    sign_in_max_failures: int = Field(5, ge=1, le=1000, alias="ORDERS_SIGN_IN_MAX_FAILURES")
    sign_in_window_seconds: int = Field(900, ge=1, le=86400, alias="ORDERS_SIGN_IN_WINDOW_SECONDS")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", alias="LOG_LEVEL")

    _rate_limit_parses = field_validator("rate_limit")(check_rate_limit)

    @model_validator(mode="after")
    def _synchronous_is_for_sqlite(self) -> Self:
        if self.sqlite_synchronous != "FULL" and not self.database_url.startswith("sqlite://"):
            raise ValueError("ORDERS_SQLITE_SYNCHRONOUS applies to SQLite only; unset it for PostgreSQL")
        return self

    @model_validator(mode="after")
    def _secrets_fit_environment(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        admin = split_tokens(self.admin_tokens and self.admin_tokens.get_secret_value())
        if not admin:
            raise ValueError("ADMIN_TOKEN must be set outside development (APP_ENV=development)")
        support = split_tokens(self.support_tokens and self.support_tokens.get_secret_value())
        gateway = [self.gateway_token.get_secret_value()] if self.gateway_token else []
        if any(len(token) < MIN_PRODUCTION_TOKEN_LENGTH for token in admin + support + gateway):
            raise ValueError(f"tokens must be at least {MIN_PRODUCTION_TOKEN_LENGTH} characters long")
        if not gateway:
            raise ValueError("ORDERS_GATEWAY_TOKEN must be set outside development")
        if self.callback_url is not None and self.webhook_secret is None:
            raise ValueError(
                "ORDERS_WEBHOOK_SECRET must be set outside development, or ORDERS_CALLBACK_URL empty"
            )
        return self

    @field_validator("callback_url", mode="before")
    @classmethod
    def _empty_means_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def gateway_bearer(self) -> str:
        """The token this service presents to the gateway."""
        return self.gateway_token.get_secret_value() if self.gateway_token else DEV_GATEWAY_TOKEN

    @property
    def webhook_signing_secret(self) -> str | None:
        """The shared secret the gateway signs status callbacks with; None refuses every callback.

        The development secret is public (it is in this repository), so only development uses it.
        """
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return DEV_WEBHOOK_SECRET if self.environment is Environment.DEVELOPMENT else None

    @property
    def secure_cookies(self) -> bool:
        """Session cookies travel over HTTPS only, except in development on plain-HTTP loopback."""
        return self.environment is not Environment.DEVELOPMENT

    def token_registry(self) -> TokenRegistry:
        """Admins place and change orders; support staff may only read."""
        dev = self.environment is Environment.DEVELOPMENT
        entries = []
        for role, secret, default in (
            (ADMIN, self.admin_tokens, DEV_ADMIN_TOKEN),
            (SUPPORT, self.support_tokens, DEV_SUPPORT_TOKEN),
        ):
            tokens = split_tokens(secret and secret.get_secret_value()) or ([default] if dev else [])
            entries += [
                (token, Principal(f"{role}-{n}", frozenset({role}))) for n, token in enumerate(tokens, 1)
            ]
        return TokenRegistry(entries)
