"""An order's notification: its whole story, sending it again, and withdrawing it on cancellation.

The orders service knows its outbox rows (each hand-over to the gateway); the
gateway knows each attempt and each event (every change of status, with who made
it and why). The story joins both, and still tells the local half when the
gateway cannot be asked.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.errors import DomainError
from apikit.responses import utc_iso
from orders_service.gateway import GatewayClient, GatewayUnavailable
from orders_service.lifecycle import OrderChangeKind, OrderNotificationStatus, OutboxStatus
from orders_service.models import DNAKitOrder, OrderChange, OutboxMessage, User
from orders_service.notifications import NotificationService
from orders_service.orders import get_order, notify_order_placed

log = logging.getLogger("orders_service.order_notifications")

# Nothing more will happen unless someone acts: a live view may stop asking.
FINAL = frozenset(
    {
        OrderNotificationStatus.DELIVERED,
        OrderNotificationStatus.UNDELIVERED,
        OrderNotificationStatus.BOUNCED,
        OrderNotificationStatus.FAILED,
        OrderNotificationStatus.CANCELLED,
        OrderNotificationStatus.SUPPRESSED,
    }
)


class NotResendable(DomainError):
    """Only a notification that failed (or that the gateway refused) can be sent again."""


def handed_over_id(message: OutboxMessage) -> str | None:
    """The gateway's id for this hand-over, once it accepted it."""
    return message.notification_id


async def messages_of(order_id: str) -> list[OutboxMessage]:
    return await OutboxMessage.filter(order_id=order_id).order_by("id")


async def check_resend(order_id: str, channel: str | None, *, notifications: NotificationService) -> None:
    """Refuse, before anything is written, a resend of an unknown order or by a channel its user
    cannot get (or that cannot be checked right now)."""
    order = await get_order(order_id)
    if channel is not None:
        user = await User.get(id=order.user_id)
        await notifications.check_channel(user, channel, pointer="#/channel")


async def resend(
    order_id: str,
    *,
    channel: str | None,
    actor: str,
    notifications: NotificationService,
    connection: BaseDBAsyncClient,
) -> DNAKitOrder:
    """Queue the order-placed notification again, in the caller's transaction; the history stays.

    The order's notification goes back to `pending`, conditionally on it still being `failed`,
    so two resends at once make one new outbox row."""
    order = await get_order(order_id)
    if order.notification_status is not OrderNotificationStatus.FAILED:
        raise NotResendable(
            f"Only a failed notification can be sent again; this one is {order.notification_status}."
        )
    user = await User.get(id=order.user_id, using_db=connection)
    changed = (
        await DNAKitOrder.filter(id=order.id, notification_status=OrderNotificationStatus.FAILED)
        .using_db(connection)
        .update(
            notification_status=OrderNotificationStatus.PENDING,
            requested_channel=channel,
            notification_channel=None,
            notification_id=None,
            updated_at=datetime.now(UTC),
        )
    )
    if not changed:
        raise NotResendable("The notification changed while it was being sent again; read the order again.")
    await OrderChange.create(
        using_db=connection,
        order_id=order.id,
        kind=OrderChangeKind.NOTIFICATION_RESENT,
        value=channel,
        actor=actor,
    )
    await notify_order_placed(
        order, user, channel=channel, notifications=notifications, connection=connection
    )
    return await DNAKitOrder.get(id=order.id, using_db=connection)


async def cancel(order: DNAKitOrder, *, actor: str, gateway: GatewayClient) -> bool:
    """Withdraw the order's notification if nothing has been sent yet; True if it was withdrawn.

    A row still in the outbox (and not claimed by a relay) is cancelled here; one the gateway
    holds is cancelled there. An unreachable gateway leaves it as it is: the order's
    cancellation itself never waits on the gateway."""
    withdrawn = await OutboxMessage.filter(
        order_id=order.id, status=OutboxStatus.PENDING, lease_owner=None
    ).update(status=OutboxStatus.CANCELLED, last_error="withdrawn: the order was cancelled")
    if (
        not withdrawn
        and order.notification_id
        and order.notification_status is OrderNotificationStatus.QUEUED
    ):
        try:
            withdrawn = await gateway.cancel(order.notification_id)
        except GatewayUnavailable as exc:
            log.warning(
                "could not cancel a notification at the gateway", extra={"order": order.id, "error": str(exc)}
            )
    if withdrawn:
        await (
            DNAKitOrder.filter(id=order.id)
            .exclude(notification_status=OrderNotificationStatus.DELIVERED)
            .update(notification_status=OrderNotificationStatus.CANCELLED)
        )
        await OrderChange.create(order_id=order.id, kind=OrderChangeKind.NOTIFICATION_CANCELLED, actor=actor)
    return bool(withdrawn)


def _gateway_part(found: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": found["id"],
        "status": found["status"],
        "channel": found["channel"],
        "requested_channel": found.get("requested_channel"),
        "fallback_channels": found.get("fallback_channels", []),
        "attempts": [
            {
                "number": attempt["number"],
                "channel": attempt["channel"],
                "outcome": attempt["outcome"],
                "provider_status": attempt.get("provider_status"),
                "error": attempt.get("error"),
                "started_at": attempt["started_at"],
            }
            for attempt in found.get("attempts", [])
        ],
        "events": [
            {
                "sequence": event["sequence"],
                "status": event["status"],
                "channel": event["channel"],
                "source": event["source"],
                "reason": event.get("reason"),
                "occurred_at": event["occurred_at"],
            }
            for event in found.get("events", [])
        ],
    }


async def story(order_id: str, *, gateway: GatewayClient) -> dict[str, Any]:
    """A `NotificationStory`: each hand-over, joined with the gateway's record of it."""
    order = await get_order(order_id)
    problem: str | None = None
    messages = []
    for message in await messages_of(order.id):
        notification_id = handed_over_id(message)
        found = None
        if notification_id and problem is None:
            try:
                found = await gateway.notification(notification_id)
            except GatewayUnavailable as exc:
                problem = f"The notification gateway cannot be asked right now: {exc}."
        messages.append(
            {
                "outbox_id": message.id,
                "status": str(message.status),
                "requested_channel": (message.payload or {}).get("channel"),
                "handover_attempts": message.attempts,
                "last_error": message.last_error,
                "created_at": utc_iso(message.created_at),
                "sent_at": utc_iso(message.sent_at) if message.sent_at else None,
                "notification_id": notification_id,
                "gateway": _gateway_part(found) if found else None,
            }
        )
    return {
        "order_id": order.id,
        "status": str(order.notification_status),
        "channel": order.notification_channel,
        "reason": order.notification_reason,
        "final": order.notification_status in FINAL,
        "gateway_reachable": problem is None,
        "gateway_problem": problem,
        "messages": messages,
    }
