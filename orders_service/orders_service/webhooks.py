"""Status callbacks from the gateway, signed as Standard Webhooks specify.

The signature (HMAC-SHA256 over `webhook-id.webhook-timestamp.body` with the
shared secret) and a five-minute timestamp window are checked by the
`standardwebhooks` library. A `webhook-id` already applied is acknowledged and
ignored, so the gateway's retries are harmless. Callbacks carry the gateway's
sequence number of the change, and one older than the change the order already
shows is ignored, so callbacks arriving out of order never move it backwards
(one without a number, from an older gateway, never undoes a `delivered`).
"""

from __future__ import annotations

import binascii

from pydantic import BaseModel, Field, ValidationError, field_validator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from apikit.database import transaction
from apikit.problems import VALIDATION_FAILED, Problem
from orders_service.lifecycle import OrderNotificationStatus
from orders_service.models import DNAKitOrder, OutboxMessage, WebhookReceipt


class CallbackData(BaseModel):
    id: str
    status: OrderNotificationStatus
    channel: str
    reference: str | None = None
    reason: str | None = None
    sequence: int = Field(0, ge=0)

    @field_validator("status")
    @classmethod
    def _a_gateway_status(cls, value: OrderNotificationStatus) -> OrderNotificationStatus:
        if value is OrderNotificationStatus.PENDING:
            raise ValueError("pending is not a gateway status")
        return value


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
                order = DNAKitOrder.filter(id=message.order_id)
                if data.sequence:  # a change of another notification (a resend) is newer by definition
                    order = order.filter(
                        Q(notification_sequence__lt=data.sequence) | ~Q(notification_id=data.id)
                    )
                else:
                    order = order.exclude(notification_status=OrderNotificationStatus.DELIVERED)
                await order.using_db(connection).update(
                    notification_status=data.status,
                    notification_id=data.id,
                    notification_channel=data.channel,
                    notification_reason=(data.reason or "")[:200] or None,
                    notification_sequence=data.sequence,
                )
    except IntegrityError:
        return False
    return True


async def _superseded(message: OutboxMessage, connection) -> bool:
    """A later hand-over (a resend) exists for the same order: news of this one no longer moves it."""
    return (
        await OutboxMessage.filter(order_id=message.order_id, id__gt=message.id).using_db(connection).exists()
    )
