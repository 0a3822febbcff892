"""Status callbacks: when a notification's status changes, its caller is told, signed.

Signing follows Standard Webhooks (`webhook-id`, `webhook-timestamp`,
`webhook-signature` = HMAC-SHA256 over `id.timestamp.body` with the caller's
secret), via the `standardwebhooks` library. A callback is a row written in the
same transaction as the change (see `events`), then sent by a queue worker until the
caller answers 2xx, with capped backoff, for up to three days. Callbacks only
go to configured origins, never to wherever a request says (no SSRF), and
never follow redirects.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Unpack
from urllib.parse import urlsplit

import aiohttp
from standardwebhooks.webhooks import Webhook
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import DoesNotExist

from apikit.backoff import Backoff
from apikit.database import in_dialect
from apikit.queue import QueueWorker, WorkerOptions
from apikit.tracing import current_traceparent
from notification_gateway.models import Callback, Notification, NotificationEvent
from notification_gateway.status import CallbackStatus

log = logging.getLogger("notification_gateway.callbacks")

GIVE_UP_AFTER = timedelta(days=3)
TIMEOUT = aiohttp.ClientTimeout(total=5)


class CallbackRefused(Exception):
    """The callback URL is not one this gateway may call for this caller.

    Not a domain error: it never reaches the caller as a problem, because an optional callback
    never blocks the notification; `detail` is recorded with it instead.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass(frozen=True)
class CallbackPolicy:
    """Where callbacks may go, and the secret each caller's are signed with."""

    allowed_origins: frozenset[str]
    secrets: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "allowed_origins", frozenset(origin_of(o) for o in self.allowed_origins))

    def check(self, caller: str, url: str) -> None:
        if caller not in self.secrets:
            raise CallbackRefused(
                f"Status callbacks are not configured for caller {caller!r} (no signing secret)."
            )
        if origin_of(url) not in self.allowed_origins:
            raise CallbackRefused(
                "callback_url must be on an allowed origin: "
                + (", ".join(sorted(self.allowed_origins)) or "none are configured")
            )


def payload_for(notification: Notification, event: NotificationEvent, kind: str) -> dict:
    """`type` says which change (`notification.sent`, `.delivered`, `.bounced`, `.fallback`, ...);
    `data.sequence` orders the changes of one notification."""
    at = event.occurred_at.isoformat()
    return {
        "type": f"notification.{kind}",
        "timestamp": at,
        "data": {
            "id": notification.id,
            "status": str(event.status),
            "channel": event.channel,
            "reason": event.reason,
            "source": str(event.source),
            "sequence": event.sequence,
            "reference": notification.reference,
            "recipient_id": notification.recipient_id,
            "occurred_at": at,
            "finished_at": at if event.status.is_final else None,
        },
    }


async def owe_callback(
    notification: Notification, event: NotificationEvent, *, kind: str, connection: BaseDBAsyncClient
) -> None:
    """Queue the callback for an event, in the transaction that records it."""
    callback = callback_for(notification, event, kind=kind, traceparent=current_traceparent())
    if callback is not None:
        await callback.save(using_db=connection)


# Whose secret signs a callback: the one column needed of its notification, by key.
_CALLER = 'SELECT "caller" FROM "notifications" WHERE "id" = $1'


async def _caller_of(notification_id: str) -> str:
    db = Notification._meta.db
    _, rows = await db.execute_query(in_dialect(_CALLER, db), [notification_id])
    if not rows:  # a callback's notification is purged with it, never before
        raise DoesNotExist(Notification)
    return rows[0]["caller"]


def callback_for(
    notification: Notification, event: NotificationEvent, *, kind: str, traceparent: str | None
) -> Callback | None:
    """The callback an event owes, not yet saved; None if the notification asked for none."""
    if not notification.callback_url:
        return None
    return Callback(
        notification_id=notification.id,
        url=notification.callback_url,
        payload=payload_for(notification, event, kind),
        next_attempt_at=event.occurred_at,
        traceparent=traceparent,
    )


class CallbackSender(QueueWorker[Callback]):
    """Posts due callbacks, signed with their caller's secret, until each is accepted."""

    model = Callback
    waiting, leased = CallbackStatus.PENDING, CallbackStatus.SENDING

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        policy: CallbackPolicy,
        backoff: Backoff,
        **options: Unpack[WorkerOptions],
    ) -> None:
        super().__init__(**options)
        self.session = session
        self.policy = policy
        self.backoff = backoff

    async def process(self, callback: Callback) -> None:
        now = self.clock()
        final, error = await self._send(callback, await _caller_of(callback.notification_id), now)
        if final is None and now - callback.created_at > GIVE_UP_AFTER:
            final = CallbackStatus.ABANDONED
        tried = {"attempts": callback.attempts + 1, "last_error": error[:300] if error else None}
        if final is None:
            wait = self.backoff.delay(callback.attempts + 1, self.rng)
            await self.queue.retry_later(callback, wait, **tried)
            return
        delivered_at = now if final is CallbackStatus.DELIVERED else None
        await self.queue.finish(callback, status=final, delivered_at=delivered_at, **tried)
        if final is CallbackStatus.ABANDONED:
            log.error("status callback abandoned", extra={"callback": callback.id, "error": error})

    async def _send(
        self, callback: Callback, caller: str, now: datetime
    ) -> tuple[CallbackStatus | None, str | None]:
        """(DELIVERED, None) if accepted; (ABANDONED, why) if it may not be sent; (None, why) to retry."""
        try:
            self.policy.check(caller, callback.url)
        except CallbackRefused as refused:
            return CallbackStatus.ABANDONED, refused.detail
        body = json.dumps(callback.payload, separators=(",", ":"))
        headers = {
            "Content-Type": "application/json",
            "webhook-id": callback.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.policy.secrets[caller]).sign(callback.id, now, body),
        }
        try:
            async with self.session.post(
                callback.url, data=body, headers=headers, timeout=TIMEOUT, allow_redirects=False
            ) as response:
                if 200 <= response.status < 300:
                    return CallbackStatus.DELIVERED, None
                return None, f"caller answered {response.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, f"caller unreachable ({type(exc).__name__})"
