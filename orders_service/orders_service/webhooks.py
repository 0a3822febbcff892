"""Status callbacks from the gateway, signed as Standard Webhooks specify.

The signature (HMAC-SHA256 over `webhook-id.webhook-timestamp.body` with the
shared secret) and a five-minute timestamp window are checked by the
`standardwebhooks` library. A `webhook-id` already applied is acknowledged and
ignored, so the gateway's retries are harmless. A delivered notification stays
delivered whatever arrives later.
"""

from __future__ import annotations

import binascii
from typing import Literal

from pydantic import BaseModel, ValidationError
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tortoise.exceptions import IntegrityError

from apikit.database import transaction
from apikit.problems import VALIDATION_FAILED, Problem
from orders_service.lifecycle import OrderNotificationStatus
from orders_service.models import DNAKitOrder, OutboxMessage, WebhookReceipt


class CallbackData(BaseModel):
    id: str
    status: Literal["delivered", "failed", "cancelled"]
    channel: str
    reference: str | None = None


class StatusCallback(BaseModel):
    """The body the gateway posts: `{"type": "notification.delivered", "timestamp": ..., "data": {...}}`."""

    type: str
    timestamp: str
    data: CallbackData


def verify(webhook: Webhook | None, body: bytes, headers: dict[str, str]) -> StatusCallback:
    """The callback, if it is signed with our secret and recent; else 401 (422 if signed but malformed).

    Without a configured secret (`webhook` None) every callback is refused."""
    if webhook is None:
        raise Problem(401, detail="This service takes no status callbacks: ORDERS_WEBHOOK_SECRET is not set.")
    try:
        parsed = webhook.verify(body, headers)
    except (WebhookVerificationError, ValueError, binascii.Error, UnicodeDecodeError):
        raise Problem(
            401, detail="The callback is not signed with this service's secret, or is too old."
        ) from None
    try:
        return StatusCallback.model_validate(parsed)
    except ValidationError:
        raise Problem.of(VALIDATION_FAILED, "The callback body is not a notification status.") from None


async def apply(webhook_id: str, callback: StatusCallback) -> bool:
    """Record the notification's final status on its order; False if this webhook-id was seen before."""
    data = callback.data
    try:
        async with transaction() as connection:
            await WebhookReceipt.create(id=webhook_id, using_db=connection)
            message = (
                await OutboxMessage.get_or_none(id=data.reference, using_db=connection)
                if data.reference
                else None
            )
            if (
                message is not None
                and message.order_id is not None
                and not await _superseded(message, connection)
            ):
                await (
                    DNAKitOrder.filter(id=message.order_id)
                    .exclude(notification_status=OrderNotificationStatus.DELIVERED)
                    .using_db(connection)
                    .update(
                        notification_status=OrderNotificationStatus(data.status),
                        notification_id=data.id,
                        notification_channel=data.channel,
                    )
                )
    except IntegrityError:
        return False
    return True


async def _superseded(message: OutboxMessage, connection) -> bool:
    """A later hand-over (a resend) exists for the same order: news of this one no longer moves it."""
    return (
        await OutboxMessage.filter(order_id=message.order_id, id__gt=message.id).using_db(connection).exists()
    )
