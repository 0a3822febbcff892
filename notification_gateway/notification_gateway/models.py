"""Database tables of the gateway: the durable delivery queue and its attempt history."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from apikit.fields import DatetimeField
from apikit.idempotency import IdempotencyRecordBase
from apikit.leases import LeaseBase
from apikit.queue import LeasedRow
from notification_gateway.ids import new_callback_id, new_notification_id, new_suppression_id
from notification_gateway.lanes import DueIndex, Priority
from notification_gateway.status import (
    AttemptOutcome,
    CallbackStatus,
    CircuitState,
    EventSource,
    NotificationStatus,
    TimerStatus,
)


class Notification(LeasedRow):
    """One message to one recipient, and the queue entry that delivery workers claim.

    A worker owns a notification while `lease_owner` is its claim and
    `lease_expires_at` is in the future. The lease of a dead worker simply runs out.
    """

    id = fields.CharField(primary_key=True, max_length=40, default=new_notification_id)
    caller = fields.CharField(max_length=64, description="The calling service that created it.")
    recipient_id = fields.CharField(max_length=40, description="The id the caller gave the recipient.")
    recipient = fields.JSONField(description="name and contact points.")
    message = fields.TextField()
    title = fields.CharField(max_length=200, null=True)
    attributes = fields.JSONField(default=dict)
    requested_channel = fields.CharField(max_length=32, null=True)
    channel = fields.CharField(max_length=32, description="The channel being tried now.")
    fallback_channels = fields.JSONField(default=list, description="Channels left to try, in order.")
    status = fields.CharEnumField(NotificationStatus, max_length=16, default=NotificationStatus.QUEUED)
    attempt_count = fields.IntField(default=0, description="Attempts so far, on every channel.")
    attempts_on_channel = fields.IntField(default=0, description="Attempts on the current channel.")
    callback_url = fields.CharField(max_length=2048, null=True)
    callback_refusal = fields.CharField(
        max_length=300, null=True, description="Why the callback asked for will not be sent."
    )
    reference = fields.CharField(max_length=100, null=True, description="The own reference of the caller.")
    address_key = fields.CharField(
        max_length=40, null=True, description="Hash of channel and address, for caps."
    )
    confirm_within_seconds = fields.FloatField(
        null=True, description="Fall back unless a `delivered` receipt comes this soon after `sent`."
    )
    event_count = fields.IntField(
        default=0, db_default=0, description="Events so far, numbering each status callback."
    )
    traceparent = fields.CharField(max_length=55, null=True, description="W3C trace context of its request.")
    priority = fields.CharEnumField(
        Priority, max_length=16, default=Priority.TRANSACTIONAL, db_default=Priority.TRANSACTIONAL.value
    )
    critical = fields.BooleanField(
        default=False, db_default=False, description="Sent even within quiet hours."
    )
    send_at = DatetimeField(null=True, description="The time the caller asked for, if any.")
    item_key = fields.CharField(
        max_length=64, null=True, description="Hash of batch key and recipient id: one notification each."
    )
    created_at = DatetimeField(auto_now_add=True)
    updated_at = DatetimeField(auto_now=True)
    finished_at = DatetimeField(null=True)

    attempts: fields.ReverseRelation[DeliveryAttempt]
    events: fields.ReverseRelation[NotificationEvent]

    class Meta:
        table = "notifications"
        indexes = (
            ("status", "next_attempt_at"),
            ("caller", "id"),
            ("caller", "recipient_id"),
            ("address_key", "created_at"),
            ("status", "finished_at"),
            DueIndex(fields=("priority", "next_attempt_at"), name="notifications_due_by_priority"),
            ("caller", "reference"),
        )
        unique_together = (("caller", "item_key"),)


class DeliveryAttempt(Model):
    """One call to a provider and how it ended."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="attempts", on_delete=fields.CASCADE
    )
    number = fields.IntField(description="1 for the first attempt of this notification.")
    channel = fields.CharField(max_length=32)
    outcome = fields.CharEnumField(AttemptOutcome, max_length=16)
    provider_status = fields.IntField(null=True)
    error = fields.CharField(max_length=500, null=True)
    retry_after_seconds = fields.FloatField(null=True)
    provider_reference = fields.CharField(
        max_length=128, null=True, description="The provider's id for the message, which receipts name."
    )
    counted = fields.BooleanField(
        default=True,
        db_default=True,  # attempts made before the column existed used one up
        description="False for a probe or a provider's pause: no attempt of the channel used up.",
    )
    started_at = DatetimeField()
    duration_ms = fields.FloatField()

    class Meta:
        table = "delivery_attempts"
        unique_together = (("notification", "number"),)
        indexes = (("channel", "provider_reference"),)


#: The longest reason an event keeps (a longer one is cut).
REASON_LENGTH = 200


class NotificationEvent(Model):
    """One change in a notification's life: what it became, when, who moved it, and why."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="events", on_delete=fields.CASCADE
    )
    sequence = fields.IntField(description="1 for the notification's first event.")
    status = fields.CharEnumField(NotificationStatus, max_length=16)
    channel = fields.CharField(max_length=32)
    source = fields.CharEnumField(EventSource, max_length=16)
    reason = fields.CharField(max_length=REASON_LENGTH, null=True)
    occurred_at = DatetimeField()

    class Meta:
        table = "notification_events"
        unique_together = (("notification", "sequence"),)


class ProviderReceiptRecord(Model):
    """A receipt as a provider sent it: kept to spot duplicates, and to apply one that came before
    the send it reports on was recorded (`notification` is null until then)."""

    id = fields.IntField(primary_key=True)
    channel = fields.CharField(max_length=32)
    event_id = fields.CharField(max_length=128, description="The provider's id of the receipt event.")
    provider_reference = fields.CharField(max_length=128)
    status = fields.CharField(max_length=16)
    reason = fields.CharField(max_length=100, null=True)
    occurred_at = DatetimeField()
    received_at = DatetimeField(auto_now_add=True)
    notification_id = fields.CharField(max_length=40, null=True, description="Set once applied.")

    class Meta:
        table = "provider_receipts"
        unique_together = (("channel", "event_id"),)
        # The purge finds a purged notification's receipts, and the old unmatched ones (null).
        indexes = (("channel", "provider_reference"), ("notification_id", "received_at"))


class Suppression(Model):
    """An address a channel must not send to: it bounced, went undelivered N times running, or opted out.

    The address is kept only as a keyed hash (HMAC), enough to match it. Until `suppressed_at` is set
    the row only counts consecutive `undelivered` receipts.
    """

    id = fields.CharField(primary_key=True, max_length=40, default=new_suppression_id)
    channel = fields.CharField(max_length=32)
    address_hash = fields.CharField(max_length=64)
    reason = fields.CharField(max_length=32, null=True, description="bounced, undelivered, opted_out")
    undelivered_in_a_row = fields.IntField(default=0)
    suppressed_at = DatetimeField(null=True)
    updated_at = DatetimeField(auto_now=True)

    class Meta:
        table = "suppressions"
        unique_together = (("channel", "address_hash"),)


class ConfirmationTimer(LeasedRow):
    """Due when a sent notification should have been confirmed delivered (a row, so restarts keep it)."""

    id = fields.IntField(primary_key=True)
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="timers", on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=32, description="The channel whose receipt is awaited.")
    status = fields.CharEnumField(TimerStatus, max_length=16, default=TimerStatus.WAITING)

    class Meta:
        table = "confirmation_timers"
        indexes = (("status", "next_attempt_at"),)


class ChannelState(Model):
    """Flow control of one channel, shared by every gateway process.

    Its circuit breaker, a pause the provider asked for, and the next send slot its rate allows.
    """

    channel = fields.CharField(primary_key=True, max_length=32)
    circuit = fields.CharEnumField(CircuitState, max_length=16, default=CircuitState.CLOSED)
    failures = fields.IntField(default=0, description="Retryable failures in the current window.")
    failures_since = DatetimeField(null=True, description="When the current failure window began.")
    opened_at = DatetimeField(null=True)
    opened_by = fields.CharField(max_length=64, null=True, description="`failures`, or the operator's name.")
    probe_at = DatetimeField(null=True, description="Open: when a probe may go. Half-open: when it lapses.")
    paused_until = DatetimeField(null=True, description="A provider's Retry-After holds the channel.")
    next_slot_at = DatetimeField(null=True, description="The next send the channel's rate allows.")
    updated_at = DatetimeField(auto_now=True)

    class Meta:
        table = "channel_states"


class Callback(LeasedRow):
    """A signed status callback owed to the caller, sent until the caller accepts it."""

    id = fields.CharField(primary_key=True, max_length=40, default=new_callback_id, description="webhook-id")
    notification: fields.ForeignKeyRelation[Notification] = fields.ForeignKeyField(
        "models.Notification", related_name="callbacks", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2048)
    payload = fields.JSONField()
    status = fields.CharEnumField(CallbackStatus, max_length=16, default=CallbackStatus.PENDING)
    attempts = fields.IntField(default=0)
    last_error = fields.CharField(max_length=300, null=True)
    traceparent = fields.CharField(max_length=55, null=True, description="W3C trace context of its delivery.")
    created_at = DatetimeField(auto_now_add=True)
    delivered_at = DatetimeField(null=True)

    class Meta:
        table = "callbacks"
        indexes = (("status", "next_attempt_at"), ("notification_id", "status"))


class IdempotencyRecord(IdempotencyRecordBase):
    class Meta:
        table = "idempotency_records"
        unique_together = (("principal", "key"),)


class Lease(LeaseBase):
    """Named leases, so one replica at a time runs a job such as the retention purge."""

    class Meta:
        table = "leases"
