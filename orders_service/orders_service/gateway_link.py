"""The orders service's link to the gateway, checked at start-up and by `/readyz`.

One probe asks the gateway who this service is (`GET /callers/me`, which also
tests the token) and lists its channels (`GET /channels`). What it finds is
either a *misconfiguration* (a refused token, callbacks configured on one side
only, secrets that differ), which names the setting to fix and stops start-up
outside development, or a gateway that is merely down, which only makes the
link unready: orders still go into the outbox meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from yarl import URL

from apikit.readiness import CheckResult, ReadinessCheck
from orders_service.gateway import (
    TOKEN_STATUSES,
    GatewayClient,
    GatewayUnavailable,
    GatewayUnreachable,
    token_refused,
)

CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Misconfiguration:
    """A setting that must change before the link can work."""

    setting: str
    problem: str

    def line(self) -> str:
        return f"{self.setting}: {self.problem}"


@dataclass(frozen=True)
class LinkState:
    reachable: bool
    token_accepted: bool | None  # None: not known, the gateway was not reached
    reason: str
    callbacks: Misconfiguration | None = None
    misconfiguration: Misconfiguration | None = None


def _origin(url: str) -> str:
    parts = URL(url)
    return f"{parts.scheme}://{parts.host}:{parts.port}"


class GatewayLink:
    """Probes the gateway with this service's token and callback settings."""

    def __init__(
        self, gateway: GatewayClient, *, callback_url: str | None, webhook_secret: str | None
    ) -> None:
        self.gateway = gateway
        self.callback_url = callback_url
        self.webhook_secret = webhook_secret
        self._last: tuple[float, LinkState] | None = None
        self._lock = asyncio.Lock()

    async def state(self) -> LinkState:
        """The link as probed at most `CACHE_SECONDS` ago (readiness is polled often)."""
        async with self._lock:
            if self._last is None or time.monotonic() - self._last[0] > CACHE_SECONDS:
                self._last = (time.monotonic(), await self.probe())
            return self._last[1]

    async def _get(self, path: str) -> tuple[int, Any]:
        answer = await self.gateway.request("GET", path)
        return answer.status, answer.json() if answer.status == 200 else None

    async def probe(self) -> LinkState:
        try:
            status, me = await self._get("/callers/me")
            if status in TOKEN_STATUSES:
                refused = Misconfiguration("ORDERS_GATEWAY_TOKEN", token_refused(status))
                return LinkState(True, False, refused.problem, misconfiguration=refused)
            if status >= 500:
                return LinkState(False, None, f"the gateway answered {status}")
            if status != 200 or not isinstance(me, dict):
                wrong = Misconfiguration(
                    "ORDERS_GATEWAY_URL",
                    f"GET /callers/me answered {status}: is this the notification gateway?",
                )
                return LinkState(True, True, wrong.problem, misconfiguration=wrong)
            status, channels = await self._get("/channels")
            if status != 200 or not isinstance(channels, dict) or not isinstance(channels.get("data"), list):
                unreadable = Misconfiguration(
                    "ORDERS_GATEWAY_URL",
                    f"the gateway's channel list cannot be read (GET /channels: {status})",
                )
                return LinkState(True, True, unreadable.problem, misconfiguration=unreadable)
        except GatewayUnavailable as exc:
            return LinkState(False, None, str(exc))
        except ValueError as exc:
            return LinkState(False, None, str(GatewayUnreachable(exc)))
        callbacks = self._check_callbacks(me)
        names = ", ".join(sorted(entry.get("name", "?") for entry in channels["data"])) or "none"
        reason = f"caller {me.get('caller')!r} accepted; channels: {names}"
        return LinkState(True, True, reason, callbacks=callbacks, misconfiguration=callbacks)

    def _check_callbacks(self, me: dict) -> Misconfiguration | None:
        """Both sides must agree: the gateway has this caller's secret, allows the origin, signs alike."""
        if self.callback_url is None:
            return None
        setup = me.get("callbacks") or {}
        caller = me.get("caller")
        if not setup.get("signing_secret"):
            return Misconfiguration(
                "ORDERS_CALLBACK_URL",
                f"the gateway has no webhook secret for caller {caller!r} (its GATEWAY_WEBHOOK_SECRETS); "
                "set one there, or leave ORDERS_CALLBACK_URL empty",
            )
        origin = _origin(self.callback_url)
        allowed = [_origin(o) for o in setup.get("allowed_origins") or []]
        if origin not in allowed:
            return Misconfiguration(
                "ORDERS_CALLBACK_URL",
                f"its origin {origin} is not among the gateway's GATEWAY_CALLBACK_ORIGINS "
                f"({', '.join(allowed) or 'none'})",
            )
        sample = setup.get("sample") or {}
        if self.webhook_secret is None:
            return Misconfiguration("ORDERS_WEBHOOK_SECRET", "must be set when ORDERS_CALLBACK_URL is set")
        try:
            Webhook(self.webhook_secret).verify(
                sample.get("body", ""),
                {
                    "webhook-id": str(sample.get("id", "")),
                    "webhook-timestamp": str(sample.get("timestamp", "")),
                    "webhook-signature": str(sample.get("signature", "")),
                },
            )
        except (WebhookVerificationError, ValueError, json.JSONDecodeError):
            return Misconfiguration(
                "ORDERS_WEBHOOK_SECRET",
                f"does not match the gateway's secret for caller {caller!r} (GATEWAY_WEBHOOK_SECRETS), "
                "or the two clocks differ by more than five minutes",
            )
        return None

    def readiness_checks(self) -> list[ReadinessCheck]:
        """The gateway link (optional: orders wait in the outbox), the token (required), callbacks."""

        async def reachable() -> CheckResult:
            state = await self.state()
            return CheckResult("ok" if state.reachable else "failing", state.reason)

        async def token() -> CheckResult:
            state = await self.state()
            if state.token_accepted is None:
                return CheckResult("unknown", state.reason)
            if state.token_accepted:
                return CheckResult("ok", "the gateway accepts this service's token")
            return CheckResult("failing", state.reason)

        async def callbacks() -> CheckResult:
            state = await self.state()
            if not state.reachable or state.token_accepted is False:
                return CheckResult("unknown", state.reason)
            if self.callback_url is None:
                return CheckResult("ok", "no status callbacks asked for (ORDERS_CALLBACK_URL is empty)")
            if state.callbacks is not None:
                return CheckResult("failing", state.callbacks.line())
            return CheckResult("ok", "configured alike on both sides")

        return [
            ReadinessCheck("gateway", reachable, required=False),
            ReadinessCheck("gateway_token", token, required=True),
            ReadinessCheck("callbacks", callbacks, required=False),
        ]
