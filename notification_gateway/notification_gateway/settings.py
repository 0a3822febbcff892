"""The gateway's configuration, read from the environment and checked at start."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from apikit.auth import Principal, TokenRegistry
from apikit.settings import MIN_PRODUCTION_TOKEN_LENGTH, Environment, check_rate_limit, split_tokens
from apikit.tracing import TracingSettings
from notification_gateway.flow import FlowConfig, parse_breakers, parse_rates
from notification_gateway.plugins import parse_allow_list
from notification_gateway.recipient_caps import parse_caps
from notification_gateway.scheduling import zone_named

DEV_GATEWAY_TOKEN = "dev-gateway-token"  # noqa: S105 - documented development default, refused in production
DEV_OPERATOR_TOKEN = "dev-operator-token"  # noqa: S105 - documented development default, refused in production
DEV_WEBHOOK_SECRET = "whsec_ZGV2LXdlYmhvb2stc2VjcmV0LWRvLW5vdC11c2U="  # noqa: S105 - base64 of a dev phrase
DEV_CALLBACK_ORIGINS = "http://127.0.0.1:8080,http://localhost:8080"
DEV_SUPPRESSION_KEY = "dev-suppression-key-do-not-use-in-production"
DEFAULT_ROUTING_FILE = Path(__file__).with_name("routing.toml")

CALLER = "caller"
OPERATOR = "operator"
# Connections beyond one per send in flight: the lanes' claims, API requests and the other workers.
POOL_HEADROOM = 8


class GatewaySettings(TracingSettings):
    """Every variable is listed in `.env.example` and the README. Channel plugins read their own."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    environment: Environment = Field(Environment.PRODUCTION, alias="APP_ENV")
    database_url: str = Field("sqlite://var/gateway.sqlite3", alias="GATEWAY_DATABASE_URL")
    database_pool_size: int | None = Field(None, ge=2, le=1000, alias="GATEWAY_DATABASE_POOL_SIZE")
    host: str = Field("127.0.0.1", alias="GATEWAY_HOST")
    port: int = Field(8081, ge=1, le=65535, alias="GATEWAY_PORT")
    token: SecretStr | None = Field(None, alias="GATEWAY_TOKEN")
    callers: SecretStr | None = Field(None, alias="GATEWAY_CALLERS")
    plugins: str | None = Field(None, alias="GATEWAY_PLUGINS")
    routing_file: Path = Field(DEFAULT_ROUTING_FILE, alias="GATEWAY_ROUTING_FILE")
    max_body_bytes: int = Field(32 * 1024, ge=1024, le=1024 * 1024, alias="GATEWAY_MAX_BODY_BYTES")
    rate_limit: str = Field("100/second", alias="GATEWAY_RATE_LIMIT")
    workers_enabled: bool = Field(True, alias="GATEWAY_WORKERS_ENABLED")
    delivery_concurrency: int = Field(32, ge=1, le=1024, alias="GATEWAY_DELIVERY_CONCURRENCY")
    max_attempts: int = Field(5, ge=1, le=50, alias="GATEWAY_MAX_ATTEMPTS")
    retry_base_seconds: float = Field(1.0, gt=0, le=3600, alias="GATEWAY_RETRY_BASE_SECONDS")
    retry_max_seconds: float = Field(300.0, gt=0, le=86400, alias="GATEWAY_RETRY_MAX_SECONDS")
    lease_seconds: float = Field(60.0, ge=1, le=3600, alias="GATEWAY_LEASE_SECONDS")
    poll_seconds: float = Field(0.5, gt=0, le=60, alias="GATEWAY_POLL_SECONDS")
    recipient_limits: str = Field("sms=10/hour", alias="GATEWAY_RECIPIENT_LIMITS")
    breakers: str = Field("*=5/60s", alias="GATEWAY_BREAKERS")
    breaker_cooldown_seconds: float = Field(30.0, gt=0, le=3600, alias="GATEWAY_BREAKER_COOLDOWN_SECONDS")
    send_rates: str = Field("", alias="GATEWAY_SEND_RATES")
    operator_token: SecretStr | None = Field(None, alias="GATEWAY_OPERATOR_TOKEN")
    operators: SecretStr | None = Field(None, alias="GATEWAY_OPERATORS")
    bulk_share: float = Field(0.25, gt=0, le=1, alias="GATEWAY_BULK_SHARE")
    default_timezone: str = Field("Europe/London", alias="GATEWAY_DEFAULT_TIMEZONE")
    max_batch_body_bytes: int = Field(
        1024 * 1024, ge=1024, le=16 * 1024 * 1024, alias="GATEWAY_MAX_BATCH_BODY_BYTES"
    )
    webhook_secrets: SecretStr | None = Field(None, alias="GATEWAY_WEBHOOK_SECRETS")
    callback_origins: str | None = Field(None, alias="GATEWAY_CALLBACK_ORIGINS")
    suppression_key: SecretStr | None = Field(None, alias="GATEWAY_SUPPRESSION_KEY")
    suppress_after_undelivered: int = Field(3, ge=1, le=100, alias="GATEWAY_SUPPRESS_AFTER_UNDELIVERED")
    retention_idempotency_hours: float = Field(24, ge=0, alias="GATEWAY_RETENTION_IDEMPOTENCY_HOURS")
    retention_delivered_days: float = Field(30, ge=0, alias="GATEWAY_RETENTION_DELIVERED_DAYS")
    retention_failed_days: float = Field(90, ge=0, alias="GATEWAY_RETENTION_FAILED_DAYS")
    retention_unmatched_receipts_days: float = Field(
        7, ge=0, alias="GATEWAY_RETENTION_UNMATCHED_RECEIPTS_DAYS"
    )
    purge_enabled: bool = Field(True, alias="GATEWAY_PURGE_ENABLED")
    purge_interval_seconds: float = Field(300, ge=1, le=86400, alias="GATEWAY_PURGE_INTERVAL_SECONDS")
    purge_batch_size: int = Field(1000, ge=1, le=100_000, alias="GATEWAY_PURGE_BATCH_SIZE")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", alias="LOG_LEVEL")

    _rate_limit_parses = field_validator("rate_limit")(check_rate_limit)

    @field_validator("recipient_limits")
    @classmethod
    def _recipient_limits_parse(cls, value: str) -> str:
        try:
            parse_caps(value)
        except ValueError as exc:
            raise ValueError(f"must look like sms=5/hour,push=100/day ({exc})") from None
        return value

    @field_validator("breakers")
    @classmethod
    def _breakers_parse(cls, value: str) -> str:
        try:
            parse_breakers(value)
        except ValueError as exc:
            raise ValueError(f"must look like *=5/60s,sms=3/30s ({exc})") from None
        return value

    @field_validator("send_rates")
    @classmethod
    def _send_rates_parse(cls, value: str) -> str:
        try:
            parse_rates(value)
        except ValueError as exc:
            raise ValueError(f"must look like sms=30/second,email=100/minute ({exc})") from None
        return value

    @field_validator("default_timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        zone_named(value)
        return value

    def default_zone(self) -> ZoneInfo:
        return zone_named(self.default_timezone)

    @model_validator(mode="after")
    def _pool_sized_once(self) -> Self:
        if self.database_pool_size is not None and "maxsize" in self._url_parameters():
            raise ValueError(
                "GATEWAY_DATABASE_POOL_SIZE and maxsize= in GATEWAY_DATABASE_URL both size the pool; keep one"
            )
        return self

    def _url_parameters(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.database_url).query))

    def pooled_database_url(self) -> str:
        """GATEWAY_DATABASE_URL with its PostgreSQL pool sized for the deliveries in flight.

        Each send in flight records its attempt in a transaction of its own; with fewer
        connections than sends, a transactional claim waits for a connection behind bulk
        records. The pool is GATEWAY_DATABASE_POOL_SIZE, else GATEWAY_DELIVERY_CONCURRENCY plus
        POOL_HEADROOM; a `maxsize=` already in the URL is kept. SQLite has one connection."""
        parameters = self._url_parameters()
        postgres = self.database_url.startswith(("postgres://", "postgresql://", "asyncpg://"))
        if not postgres or "maxsize" in parameters:
            return self.database_url
        parameters["maxsize"] = str(self.database_pool_size or self.delivery_concurrency + POOL_HEADROOM)
        return urlunsplit(urlsplit(self.database_url)._replace(query=urlencode(parameters)))

    @field_validator("routing_file")
    @classmethod
    def _routing_file_exists(cls, path: Path) -> Path:
        if not path.is_file():
            raise ValueError(f"no routing rules file at {path}")
        return path

    @model_validator(mode="after")
    def _tokens_fit_environment(self) -> Self:
        self.signing_secrets()  # each of these raises on a malformed list
        callers, operators = self._caller_tokens(), self._operator_tokens()
        if self.environment is Environment.DEVELOPMENT:
            return self
        tokens = [token for token, _ in callers]
        if not tokens:
            raise ValueError("GATEWAY_TOKEN or GATEWAY_CALLERS must be set outside development")
        if any(len(token) < MIN_PRODUCTION_TOKEN_LENGTH for token in tokens):
            raise ValueError(f"tokens must be at least {MIN_PRODUCTION_TOKEN_LENGTH} characters long")
        if any(len(token) < MIN_PRODUCTION_TOKEN_LENGTH for token, _ in operators):
            raise ValueError(
                f"GATEWAY_OPERATOR_TOKEN and GATEWAY_OPERATORS tokens must be at least "
                f"{MIN_PRODUCTION_TOKEN_LENGTH} characters long"
            )
        key = self.suppression_key.get_secret_value() if self.suppression_key else ""
        if len(key) < MIN_PRODUCTION_TOKEN_LENGTH:
            raise ValueError(
                f"GATEWAY_SUPPRESSION_KEY must be set outside development, at least "
                f"{MIN_PRODUCTION_TOKEN_LENGTH} characters (it keys the hashes of suppressed addresses)"
            )
        return self

    def address_hash_key(self) -> bytes:
        """The HMAC key suppressed addresses are hashed with."""
        key = self.suppression_key.get_secret_value() if self.suppression_key else DEV_SUPPRESSION_KEY
        return key.encode("utf-8")

    def _caller_tokens(self) -> list[tuple[str, str]]:
        """(token, caller) pairs: GATEWAY_TOKEN is caller `default`; GATEWAY_CALLERS lists `name:token`."""
        pairs = _named_tokens(self.callers, "GATEWAY_CALLERS")
        single = split_tokens(self.token and self.token.get_secret_value())
        if not single and not pairs and self.environment is Environment.DEVELOPMENT:
            single = [DEV_GATEWAY_TOKEN]
        pairs += [(token, "default") for token in single]
        return pairs

    def _operator_tokens(self) -> list[tuple[str, str]]:
        """(token, operator) pairs: GATEWAY_OPERATORS lists `name:token`, so a circuit names who
        opened it; GATEWAY_OPERATOR_TOKEN is a shared `operator`; in development
        `dev-operator-token` when neither is set; none otherwise."""
        pairs = _named_tokens(self.operators, "GATEWAY_OPERATORS")
        shared = split_tokens(self.operator_token and self.operator_token.get_secret_value())
        if not shared and not pairs and self.environment is Environment.DEVELOPMENT:
            shared = [DEV_OPERATOR_TOKEN]
        return pairs + [(token, OPERATOR) for token in shared]

    def token_registry(self) -> TokenRegistry:
        """One principal per calling service (each sees only the notifications it created), and the
        operators, who open and close channels' circuits and lift suppressions."""
        callers = [(token, Principal(name, frozenset({CALLER}))) for token, name in self._caller_tokens()]
        operators = [(token, Principal(who, frozenset({OPERATOR}))) for token, who in self._operator_tokens()]
        return TokenRegistry(callers + operators)

    def flow_config(self) -> FlowConfig:
        return FlowConfig(
            breakers=parse_breakers(self.breakers),
            cooldown=timedelta(seconds=self.breaker_cooldown_seconds),
            rates=parse_rates(self.send_rates),
            probe_lease=timedelta(seconds=self.lease_seconds),
        )

    def signing_secrets(self) -> dict[str, str]:
        """Each caller's Standard Webhooks secret (`whsec_…`), from `caller:secret` pairs."""
        secrets: dict[str, str] = {}
        for entry in split_tokens(self.webhook_secrets and self.webhook_secrets.get_secret_value()):
            name, separator, secret = entry.partition(":")
            if not separator or not secret.strip().startswith("whsec_"):
                raise ValueError("GATEWAY_WEBHOOK_SECRETS must list caller:whsec_... pairs")
            secrets[name.strip()] = secret.strip()
        if not secrets and self.environment is Environment.DEVELOPMENT:
            secrets["default"] = DEV_WEBHOOK_SECRET
        return secrets

    def allowed_callback_origins(self) -> frozenset[str]:
        """`scheme://host:port` origins callbacks may go to; none, outside development, unless configured."""
        default = DEV_CALLBACK_ORIGINS if self.environment is Environment.DEVELOPMENT else ""
        raw = self.callback_origins if self.callback_origins is not None else default
        return frozenset(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())

    def allowed_plugins(self) -> frozenset[str] | None:
        """Entry-point names to load; None loads every installed plugin."""
        return parse_allow_list(self.plugins)


def _named_tokens(setting: SecretStr | None, name: str) -> list[tuple[str, str]]:
    """(token, name) pairs from a `name:token,name:token` setting called `name`."""
    pairs = []
    for entry in split_tokens(setting and setting.get_secret_value()):
        who, separator, token = entry.partition(":")
        if not separator or not who.strip() or not token.strip():
            raise ValueError(f"{name} must list name:token pairs, separated by commas")
        pairs.append((token.strip(), who.strip()))
    return pairs
