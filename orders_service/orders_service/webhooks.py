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
from datetime import UTC, datetime

from pydantic import BaseModel, Field, ValidationError, field_validator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tortoise.exceptions import IntegrityError

from apikit.database import in_dialect, transaction
from apikit.inserts import Insert
from apikit.problems import VALIDATION_FAILED, Problem
from orders_service.lifecycle import OrderNotificationStatus
from orders_service.models import WebhookReceipt


class CallbackData(BaseModel):
    id: str = Field(max_length=64)  # as the order's columns hold them
    status: OrderNotificationStatus
    channel: str = Field(max_length=32)
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


# The order's new notification state, unless a later hand-over (a resend) exists for the order or
# the order already shows a newer change. The order is found through the outbox row the callback
# names; a callback naming none, or a row of no order, changes nothing.
_APPLY = """
UPDATE "dna_kit_orders" SET
    "notification_status" = $2, "notification_id" = $3, "notification_channel" = $4,
    "notification_reason" = $5, "notification_sequence" = $6
WHERE "id" = (SELECT "order_id" FROM "outbox_messages" WHERE "id" = $1)
  AND NOT EXISTS (
      SELECT 1 FROM "outbox_messages" AS "later"
      WHERE "later"."order_id" = "dna_kit_orders"."id" AND "later"."id" > $1
  )
  AND {newer}
"""
# A numbered change is newer than what the order shows from the same notification (a change of
# another notification, a resend's, is newer by definition); one without a number, from an older
# gateway, never undoes a `delivered`.
_NEWER_IN_SEQUENCE = '("notification_sequence" < $6 OR NOT "notification_id" = $3)'
_NOT_DELIVERED = "NOT \"notification_status\" = 'delivered'"
# PostgreSQL: the receipt and the update in one statement (a data-modifying WITH always runs), so
# one round trip; a receipt already there fails it whole, as the transaction does elsewhere.
_WITH_RECEIPT = 'WITH "receipt" AS (INSERT INTO "webhook_receipts" ("id", "received_at") VALUES ($7, $8))'
_STATEMENTS = {
    (dialect, numbered): (f"{_WITH_RECEIPT}{_APPLY}" if dialect == "postgres" else _APPLY).format(
        newer=_NEWER_IN_SEQUENCE if numbered else _NOT_DELIVERED
    )
    for dialect in ("postgres", "sqlite")
    for numbered in (True, False)
}
RECEIPT = Insert(WebhookReceipt)


async def apply(webhook_id: str, callback: StatusCallback) -> bool:
    """Record the notification's status on its order; False if this webhook-id was seen before."""
    data = callback.data
    values = [
        data.reference,
        data.status.value,
        data.id,
        data.channel,
        (data.reason or "")[:200] or None,
        data.sequence,
    ]
    db = WebhookReceipt._meta.db
    try:
        if db.capabilities.dialect == "postgres":
            sql = _STATEMENTS["postgres", bool(data.sequence)]
            await db.execute_query(sql, [*values, webhook_id, datetime.now(UTC)])
            return True
        async with transaction() as connection:
            await RECEIPT.create(connection, id=webhook_id)
            if data.reference:
                sql = in_dialect(_STATEMENTS["sqlite", bool(data.sequence)], connection)
                await connection.execute_query(sql, values)
    except IntegrityError:
        return False
    return True
