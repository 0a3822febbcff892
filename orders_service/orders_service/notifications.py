"""How the orders service tells a user something: `await notification_service.notify(user, message=...)`.

`notify` is durable: it writes an outbox row in the caller's transaction (inside
`apikit.database.transaction()` the row joins it), so the notification exists exactly when
what it is about exists. The relay hands it to the gateway afterwards. The
channel is optional (the gateway's routing rules decide), and any channel the
gateway has installed is valid, so a new channel needs no change here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.alerts import ConditionLog
from apikit.errors import DomainError
from apikit.inserts import Insert
from apikit.logs import request_id_var
from apikit.tracing import current_traceparent
from orders_service.gateway import (
    TOKEN_STATUSES,
    GatewayClient,
    GatewayTokenRefused,
    GatewayUnavailable,
    token_refused,
)
from orders_service.ids import new_outbox_id
from orders_service.models import DNAKitOrder, OutboxMessage, User

log = logging.getLogger("orders_service.notifications")

INSERT_OUTBOX = Insert(OutboxMessage)  # written with every order: the SQL is tortoise's, made once
CHANNELS_TTL_SECONDS = 30.0
STALE_CHANNELS_USABLE_SECONDS = 600.0
RETRY_FETCH_AFTER_SECONDS = 5.0


class ChannelNotOffered(DomainError):
    """The gateway has no channel by that name."""


class ChannelUnusable(DomainError):
    """The user has no address for the channel asked for."""


class ChannelsUnavailable(DomainError):
    """The gateway cannot be asked which channels it has right now."""


@dataclass(frozen=True)
class ChannelInfo:
    name: str
    recipient_field: str


class ChannelDirectory:
    """The gateway's installed channels (`GET /channels`), cached for a short while.

    A stale list is still used for a few minutes when the gateway cannot be
    reached, so a gateway restart does not block order placement.
    """

    def __init__(self, gateway: GatewayClient) -> None:
        self._gateway = gateway
        self._cached: dict[str, ChannelInfo] | None = None
        self._fetched_at = 0.0
        self._failed_at = float("-inf")
        self._failure = "it has not been asked yet"
        self._lock = asyncio.Lock()
        self._conditions = ConditionLog(log)

    async def channels(self) -> dict[str, ChannelInfo]:
        async with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._fetched_at < CHANNELS_TTL_SECONDS:
                return self._cached
            # After a failed fetch, answer from what we have for a while instead of making
            # every waiting order sit through the gateway's timeout again.
            if now - self._failed_at > RETRY_FETCH_AFTER_SECONDS:
                try:
                    self._cached = await self._fetch()
                    self._fetched_at = now
                    self._conditions.cleared(
                        "token_refused", "the gateway accepts this service's token again"
                    )
                    return self._cached
                except GatewayTokenRefused as refused:
                    # A configuration error, not an outage: never hidden behind a stale list.
                    self._cached = None
                    self._conditions.raised(
                        "token_refused", token_refused(refused.status), setting="ORDERS_GATEWAY_TOKEN"
                    )
                    raise
                except (GatewayUnavailable, ValueError, KeyError) as exc:
                    self._failed_at = time.monotonic()
                    self._failure = (
                        str(exc) if isinstance(exc, GatewayUnavailable) else "its answer is unreadable"
                    )
                    log.warning("cannot list the gateway's channels", extra={"error": str(exc)})
            if self._cached is None or now - self._fetched_at > STALE_CHANNELS_USABLE_SECONDS:
                raise ChannelsUnavailable(
                    f"The notification gateway cannot be asked which channels exist ({self._failure}); "
                    "try again shortly.",
                    retry_after=int(RETRY_FETCH_AFTER_SECONDS),
                )
            return self._cached

    async def _fetch(self) -> dict[str, ChannelInfo]:
        answer = await self._gateway.request("GET", "/channels")
        if answer.status in TOKEN_STATUSES:
            raise GatewayTokenRefused.answered(answer.status)
        if answer.status != 200:
            raise GatewayUnavailable(f"the gateway answered {answer.status}")
        listing = answer.json()
        return {
            entry["name"]: ChannelInfo(entry["name"], entry["recipient_field"]) for entry in listing["data"]
        }


def recipient_of(user: User) -> dict[str, str]:
    """The user as the gateway sees a recipient: id, name and every contact point they have."""
    contacts = {"email": user.email, "phone_number": user.phone_number, **(user.contacts or {})}
    return {"id": user.id, "name": user.name} | {k: v for k, v in contacts.items() if v}


class NotificationService:
    """Notifies users through the gateway, durably, via the outbox."""

    def __init__(self, directory: ChannelDirectory, *, callback_url: str | None) -> None:
        self.directory = directory
        self.callback_url = callback_url

    async def check_channel(self, user: User, channel: str, *, pointer: str) -> None:
        """Refuse, before anything is written, a channel the gateway lacks or the user cannot receive,
        or that cannot be checked right now; each refusal names the member at `pointer`."""
        try:
            channels = await self.directory.channels()
        except ChannelsUnavailable as exc:
            raise ChannelsUnavailable(exc.detail, pointer=pointer, retry_after=exc.retry_after) from None
        if channel not in channels:
            available = ", ".join(sorted(channels)) or "none"
            raise ChannelNotOffered(
                f"The gateway has no channel {channel!r}. Available: {available}.", pointer=pointer
            )
        needed = channels[channel].recipient_field
        if needed not in recipient_of(user):
            raise ChannelUnusable(
                f"User {user.id} has no {needed}, which the {channel} channel needs.", pointer=pointer
            )

    async def notify(
        self,
        user: User,
        message: str,
        channel: str | None = None,
        *,
        attributes: Mapping[str, str] | None = None,
        title: str | None = None,
        order: DNAKitOrder | None = None,
        connection: BaseDBAsyncClient | None = None,
    ) -> OutboxMessage:
        """Queue `message` (it may name `{user_name}`) for `user`; nothing is sent before the commit.

        `order`, if the message is about one, gets the notification's id, channel and status."""
        outbox_id = new_outbox_id()
        payload: dict[str, object] = {
            "recipient": recipient_of(user),
            "message": message,
            "attributes": dict(attributes or {}),
            "reference": outbox_id,
        }
        if channel is not None:
            payload["channel"] = channel
        if title is not None:
            payload["title"] = title
        if self.callback_url is not None:
            payload["callback_url"] = self.callback_url
        return await INSERT_OUTBOX.create(
            connection,
            id=outbox_id,
            order_id=None if order is None else order.id,
            payload=payload,
            request_id=request_id_var.get(),
            traceparent=current_traceparent(),
            next_attempt_at=datetime.now(UTC),
        )
