"""The orders service's configuration, read from the environment and checked at start."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from apikit.auth import Principal, TokenRegistry
from apikit.settings import MIN_PRODUCTION_TOKEN_LENGTH, Environment, check_rate_limit, split_tokens

DEV_ADMIN_TOKEN = "dev-admin-token"  # noqa: S105 - a documented development default, refused in production
DEV_SUPPORT_TOKEN = "dev-support-token"  # noqa: S105

ADMIN, SUPPORT = "admin", "support"


class OrdersSettings(BaseSettings):
    """Every variable is listed in `.env.example` and the README."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    environment: Environment = Field(Environment.PRODUCTION, alias="APP_ENV")
    database_url: str = Field("sqlite://var/orders.sqlite3", alias="ORDERS_DATABASE_URL")
    host: str = Field("127.0.0.1", alias="ORDERS_HOST")
    port: int = Field(8080, ge=1, le=65535, alias="ORDERS_PORT")
    admin_tokens: SecretStr | None = Field(None, alias="ADMIN_TOKEN")
    support_tokens: SecretStr | None = Field(None, alias="SUPPORT_TOKEN")
    max_body_bytes: int = Field(16 * 1024, ge=1024, le=1024 * 1024, alias="ORDERS_MAX_BODY_BYTES")
    rate_limit: str = Field("50/second;1000/minute", alias="ORDERS_RATE_LIMIT")
    default_phone_region: str = Field("GB", pattern=r"^[A-Z]{2}$", alias="DEFAULT_PHONE_REGION")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", alias="LOG_LEVEL")

    _rate_limit_parses = field_validator("rate_limit")(check_rate_limit)

    @model_validator(mode="after")
    def _tokens_fit_environment(self) -> Self:
        if self.environment is Environment.DEVELOPMENT:
            return self
        admin = split_tokens(self.admin_tokens and self.admin_tokens.get_secret_value())
        if not admin:
            raise ValueError("ADMIN_TOKEN must be set outside development (APP_ENV=development)")
        support = split_tokens(self.support_tokens and self.support_tokens.get_secret_value())
        if any(len(token) < MIN_PRODUCTION_TOKEN_LENGTH for token in admin + support):
            raise ValueError(f"tokens must be at least {MIN_PRODUCTION_TOKEN_LENGTH} characters long")
        return self

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
