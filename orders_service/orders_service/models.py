"""Database tables of the orders service (tortoise-orm). Timestamps are UTC-aware."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from apikit.idempotency import IdempotencyRecordBase
from orders_service.ids import new_order_id, new_user_id
from orders_service.lifecycle import NotificationStatus, OrderStatus, SequencingType


class User(Model):
    """A person who may receive kits. Created by the user domain (here: the seed command)."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_user_id)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    phone_number = fields.CharField(max_length=16, null=True, description="E.164")
    address = fields.JSONField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

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
        NotificationStatus, max_length=16, default=NotificationStatus.PENDING
    )
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dna_kit_orders"
        indexes = (("user_id", "created_at"),)


class IdempotencyRecord(IdempotencyRecordBase):
    class Meta:
        table = "idempotency_records"
        unique_together = (("principal", "key"),)
