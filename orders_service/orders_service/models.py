"""Database tables of the orders service (tortoise-orm). Timestamps are UTC-aware."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from apikit.fields import DatetimeField
from apikit.idempotency import IdempotencyRecordBase
from apikit.queue import LeasedRow
from orders_service.ids import new_order_id, new_outbox_id, new_user_id
from orders_service.lifecycle import OrderNotificationStatus, OrderStatus, OutboxStatus, SequencingType


class User(Model):
    """A person who may receive kits. Created by the user domain (here: the seed command)."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_user_id)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    phone_number = fields.CharField(max_length=16, null=True, description="E.164")
    address = fields.JSONField(null=True)
    contacts = fields.JSONField(default=dict, description="Other contact points, e.g. push_topic.")
    created_at = DatetimeField(auto_now_add=True)
    updated_at = DatetimeField(auto_now=True)

    orders: fields.ReverseRelation[DNAKitOrder]

    class Meta:
        table = "users"


class DNAKitOrder(Model):
    """A kit ordered for a user, with the state of the notification that told them."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_order_id)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "models.User", related_name="orders", on_delete=fields.RESTRICT
    )
    sequencing_type = fields.CharEnumField(SequencingType, max_length=40)
    shipping_info = fields.JSONField()
    status = fields.CharEnumField(OrderStatus, max_length=20, default=OrderStatus.PLACED)
    requested_channel = fields.CharField(max_length=32, null=True)
    notification_channel = fields.CharField(max_length=32, null=True)
    notification_id = fields.CharField(max_length=64, null=True)
    notification_status = fields.CharEnumField(
        OrderNotificationStatus, max_length=16, default=OrderNotificationStatus.PENDING
    )
    notification_reason = fields.CharField(
        max_length=200, null=True, description="Why the notification has its status, in the gateway's words."
    )
    notification_sequence = fields.IntField(
        default=0,
        db_default=0,
        description="The gateway's number of the last change applied (older ones are ignored).",
    )
    created_at = DatetimeField(auto_now_add=True)
    updated_at = DatetimeField(auto_now=True)

    class Meta:
        table = "dna_kit_orders"
        indexes = (("user_id", "created_at"),)


class OutboxMessage(LeasedRow):
    """A notification to hand to the gateway, written in the same transaction as what it is about.

    The relay claims due rows under a lease and sends each with its id as the
    `Idempotency-Key`, so a resend after a crash cannot notify twice.
    """

    id = fields.CharField(primary_key=True, max_length=40, default=new_outbox_id)
    order: fields.ForeignKeyNullableRelation[DNAKitOrder] = fields.ForeignKeyField(
        "models.DNAKitOrder",
        related_name="outbox_messages",
        null=True,
        on_delete=fields.RESTRICT,
        description="The order it tells the user about, if any.",
    )
    payload = fields.JSONField(description="The POST /notify body.")
    request_id = fields.CharField(max_length=128, null=True)
    status = fields.CharEnumField(OutboxStatus, max_length=16, default=OutboxStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=300, null=True)
    notification_id = fields.CharField(max_length=64, null=True)
    created_at = DatetimeField(auto_now_add=True)
    sent_at = DatetimeField(null=True)

    class Meta:
        table = "outbox_messages"
        indexes = (("status", "next_attempt_at"),)


class WebhookReceipt(Model):
    """A status callback already applied: its `webhook-id` makes a replay a no-op."""

    id = fields.CharField(primary_key=True, max_length=128)
    received_at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "webhook_receipts"


class IdempotencyRecord(IdempotencyRecordBase):
    class Meta:
        table = "idempotency_records"
        unique_together = (("principal", "key"),)
