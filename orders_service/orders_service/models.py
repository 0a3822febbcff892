"""Database tables of the orders service (tortoise-orm). Timestamps are UTC-aware."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from apikit.fields import DatetimeField
from apikit.idempotency import IdempotencyRecordBase
from apikit.leases import LeaseBase
from apikit.queue import LeasedRow
from orders_service.ids import new_order_id, new_outbox_id, new_staff_id, new_user_id
from orders_service.lifecycle import (
    OrderChangeKind,
    OrderNotificationStatus,
    OrderStatus,
    OutboxStatus,
    SequencingType,
    StaffRole,
)


class User(Model):
    """A person who may receive kits. Created by the user domain (here: the seed command)."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_user_id)
    name = fields.CharField(max_length=200)
    email = fields.CharField(max_length=254)
    phone_number = fields.CharField(max_length=16, null=True, description="E.164")
    address = fields.JSONField(null=True)
    contacts = fields.JSONField(default=dict, description="Other contact points, e.g. push_topic.")
    search_text = fields.CharField(
        max_length=600,
        default="",
        db_default="",
        description="Lower-case name, e-mail and phone digits, for search.",
    )
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
    placed_by = fields.CharField(
        max_length=300, null=True, description="staff:<e-mail> or token:<principal>, null before it was kept."
    )
    created_at = DatetimeField(auto_now_add=True)
    updated_at = DatetimeField(auto_now=True)

    changes: fields.ReverseRelation[OrderChange]

    class Meta:
        table = "dna_kit_orders"
        indexes = (("user_id", "created_at"), ("notification_status", "id"), ("placed_by", "id"))


class OrderChange(Model):
    """Who did what to an order, and when: placing it, each status move, each notification action."""

    id = fields.IntField(primary_key=True)
    order: fields.ForeignKeyRelation[DNAKitOrder] = fields.ForeignKeyField(
        "models.DNAKitOrder", related_name="changes", on_delete=fields.RESTRICT
    )
    kind = fields.CharEnumField(OrderChangeKind, max_length=32)
    value = fields.CharField(max_length=64, null=True, description="The new status, or the channel.")
    actor = fields.CharField(max_length=300, description="staff:<e-mail> or token:<principal>.")
    at = DatetimeField(auto_now_add=True)

    class Meta:
        table = "order_changes"
        indexes = (("order_id", "at"),)


class Staff(Model):
    """A member of staff who signs in to the console. Never deleted: orders name them."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_staff_id)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(StaffRole, max_length=16)
    password_hash = fields.CharField(max_length=200, description="argon2id, encoded with its parameters.")
    disabled = fields.BooleanField(default=False)
    created_at = DatetimeField(auto_now_add=True)
    last_sign_in_at = DatetimeField(null=True)

    class Meta:
        table = "staff"


class StaffSession(Model):
    """A signed-in browser. The cookie holds a random token, and only its SHA-256 is stored here."""

    id = fields.CharField(primary_key=True, max_length=64, description="SHA-256 of the cookie's token.")
    staff: fields.ForeignKeyRelation[Staff] = fields.ForeignKeyField(
        "models.Staff", related_name="sessions", on_delete=fields.CASCADE
    )
    data = fields.JSONField(default=dict)
    created_at = DatetimeField(auto_now_add=True)
    last_seen_at = DatetimeField()

    class Meta:
        table = "staff_sessions"


class SignInFailure(Model):
    """One failed sign-in, counted per client address and per account to slow password guessing."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=300, description="address:<ip> or account:<e-mail>.")
    failed_at = DatetimeField()

    class Meta:
        table = "sign_in_failures"
        indexes = (("key", "failed_at"),)


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
    traceparent = fields.CharField(max_length=55, null=True, description="W3C trace context of its order.")
    created_at = DatetimeField(auto_now_add=True)
    sent_at = DatetimeField(null=True)

    class Meta:
        table = "outbox_messages"
        indexes = (("status", "next_attempt_at"), ("status", "sent_at"))


class WebhookReceipt(Model):
    """A status callback already applied: its `webhook-id` makes a replay a no-op."""

    id = fields.CharField(primary_key=True, max_length=128)
    received_at = DatetimeField(auto_now_add=True, db_index=True)

    class Meta:
        table = "webhook_receipts"


class IdempotencyRecord(IdempotencyRecordBase):
    class Meta:
        table = "idempotency_records"
        unique_together = (("principal", "key"),)


class Lease(LeaseBase):
    """Named leases, so one replica at a time runs a job such as the retention purge."""

    class Meta:
        table = "leases"
