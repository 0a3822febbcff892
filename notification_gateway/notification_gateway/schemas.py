"""The JSON the gateway accepts and returns. Input models forbid unknown members."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    HttpUrl,
    StringConstraints,
    field_validator,
    model_validator,
)

from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.text import plain_text
from notification_gateway.lanes import Priority
from notification_gateway.scheduling import zone_named
from notification_gateway.status import AttemptOutcome, CircuitState, EventSource, NotificationStatus

REFERENCE = r"^[A-Za-z0-9._:-]{1,100}$"
CONTACT_FIELD = r"^[a-z][a-z0-9_]{0,31}$"
MAX_CONTACTS = 8
MAX_ATTRIBUTES = 16
MAX_BATCH_RECIPIENTS = 1000
MAX_FALLBACKS = 8

ChannelName = Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)]
FallbackList = Annotated[list[ChannelName], Field(max_length=MAX_FALLBACKS)]


Name = plain_text(200)
MessageText = plain_text(2000, multiline=True)
AttributeValue = plain_text(200)
ContactValue = plain_text(320)


class RecipientIn(BaseModel):
    """Who to reach. Besides `id` and `name`, every member is a contact point a channel may need
    (`email`, `phone_number`, `push_topic`, ...), so a new channel needs no change here."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)
    __pydantic_extra__: dict[str, ContactValue] = Field(init=False)  # type: ignore[assignment]

    id: Annotated[str, StringConstraints(pattern=ID_PATTERN)]
    name: Name
    timezone: str | None = Field(
        None, max_length=64, description="IANA time zone for quiet hours; else the gateway's default."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_named(value)
        return value

    @model_validator(mode="after")
    def _contact_fields_are_names(self) -> RecipientIn:
        contacts = self.__pydantic_extra__ or {}
        bad = [key for key in contacts if not _is_contact_field(key)]
        if bad:
            raise ValueError(f"contact fields are lower-case names; not {bad[0]!r}")
        if len(contacts) > MAX_CONTACTS:
            raise ValueError(f"at most {MAX_CONTACTS} contact points")
        return self

    @property
    def contacts(self) -> dict[str, str]:
        return dict(self.__pydantic_extra__ or {})


def _text_only(value: object) -> object:
    """A time is written as RFC 3339 text: a bare number is not one."""
    if not isinstance(value, str):
        raise ValueError("must be a date-time string with a UTC offset, such as 2026-12-02T09:00:00+00:00")
    return value


def _is_contact_field(key: str) -> bool:
    return re.fullmatch(CONTACT_FIELD, key) is not None


class Delivery(BaseModel):
    """What a notification and a batch share: the message, how to route it, and when and how urgently."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    message: MessageText = Field(examples=["Hi {user_name}, your order has been successfully placed."])
    title: Name | None = None
    channel: ChannelName | None = None
    fallback: FallbackList | Literal["routing"] | None = Field(
        None,
        description="Channels to try, in order, if the channel fails, bounces or is not confirmed in "
        'time; "routing" for the routing rule\'s list. Without it an explicit `channel` has no fallback.',
        examples=[["email"]],
    )
    attributes: dict[Annotated[str, StringConstraints(pattern=CONTACT_FIELD)], AttributeValue] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES, examples=[{"kit_type": "whole-exome-sequencing"}]
    )
    reference: Annotated[str, StringConstraints(pattern=REFERENCE)] | None = Field(
        None, description="Your own reference; echoed in reads and status callbacks."
    )
    callback_url: HttpUrl | None = Field(
        None,
        description="Called, signed as Standard Webhooks specify, on every change of status after "
        "acceptance (sent, delivered, undelivered, bounced, fallback, failed, suppressed, cancelled).",
    )
    priority: Priority = Field(
        Priority.TRANSACTIONAL,
        description="`bulk` work (newsletters) waits behind due transactional work and uses only a share "
        "of the delivery concurrency.",
    )
    send_at: Annotated[AwareDatetime, BeforeValidator(_text_only)] | None = Field(
        None, description="Not sent before this time (with a UTC offset), at most 30 days ahead."
    )
    critical: bool = Field(False, strict=True, description="Sent even within the channel's quiet hours.")


class NotifyRequest(Delivery):
    """`POST /notify`. `message` may name placeholders: `{user_name}`, `{user_id}`, any attribute."""

    recipient: RecipientIn


class BatchRequest(Delivery):
    """`POST /notify/batch`: one message template for up to 1,000 recipients, each its own notification.

    With an `Idempotency-Key`, each recipient's notification is made once per key and recipient id."""

    recipients: list[RecipientIn] = Field(min_length=1, max_length=MAX_BATCH_RECIPIENTS)


class BatchItem(BaseModel):
    """One recipient's outcome: the notification's `id`, or the `problem` (RFC 9457) that refused it."""

    recipient_id: str | None
    id: str | None = None
    status: NotificationStatus | None = None
    replayed: bool = Field(False, description="Made by an earlier request with the same Idempotency-Key.")
    problem: dict | None = None


class BatchResult(BaseModel):
    data: list[BatchItem] = Field(description="One item per recipient, in the order sent.")
    accepted: int
    refused: int


class CancelByReference(BaseModel):
    """`POST /notifications/cancel`: every pending notification of yours with this `reference`."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reference: Annotated[str, StringConstraints(pattern=REFERENCE)]


class CancelledByReference(BaseModel):
    reference: str
    cancelled: list[str] = Field(description="Ids of the notifications cancelled now.")
    not_cancelled: list[dict[str, str]] = Field(
        description="Those with the reference that were already sending or final: id and status."
    )


class AttemptView(BaseModel):
    number: int
    channel: str
    outcome: AttemptOutcome
    provider_status: int | None
    error: str | None
    retry_after_seconds: float | None
    provider_reference: str | None = Field(description="The provider's id for the message, if it gave one.")
    counted: bool = Field(description="False for a probe or a provider's pause: it used up no attempt.")
    started_at: datetime
    duration_ms: float


class EventView(BaseModel):
    sequence: int
    status: NotificationStatus
    channel: str
    source: EventSource = Field(
        description="caller, worker, provider (a receipt), operator, or gateway (a fallback hop it made "
        "after a bad receipt, or around an open circuit)"
    )
    reason: str | None
    occurred_at: datetime


class CallbackPlan(BaseModel):
    """Whether a signed status callback follows the final status, and if one was asked for but
    cannot be sent, why (the notification is delivered all the same)."""

    will_be_sent: bool
    reason: str | None = Field(description="Why no callback will be sent, when one was asked for.")


class NotificationView(BaseModel):
    id: str
    status: NotificationStatus
    channel: str = Field(description="The channel delivering (or that delivered) it.")
    requested_channel: str | None
    fallback_channels: list[str] = Field(description="Channels still to try if this one fails for good.")
    confirm_within_seconds: float | None = Field(
        description="Unless a `delivered` receipt comes this soon after `sent`, the next fallback is tried."
    )
    recipient_id: str
    reference: str | None
    message: str
    title: str | None
    attributes: dict[str, str]
    priority: Priority
    critical: bool
    send_at: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    callback: CallbackPlan
    attempts: list[AttemptView]
    events: list[EventView] = Field(description="Every change of status, oldest first.")


class NotificationPage(BaseModel):
    data: list[NotificationView]
    count: int
    next_cursor: str | None


class FlowView(BaseModel):
    """A channel's flow control, as every gateway process sees it."""

    circuit: CircuitState = Field(description="closed: sending; open: holding messages; half_open: one probe")
    failures: int = Field(description="Retryable failures in the breaker's current window.")
    breaker: str | None = Field(description="failures/window that open the circuit; null: no breaker.")
    opened_at: datetime | None
    opened_by: str | None = Field(description="`failures`, or the operator who opened it by hand.")
    probe_at: datetime | None = Field(description="Open: when a probe may go. Half-open: when it lapses.")
    paused_until: datetime | None = Field(
        description="The provider's Retry-After holds the channel until then."
    )
    send_rate: str | None = Field(description="At most this many sends, across every gateway process.")


class ChannelView(BaseModel):
    name: str
    description: str
    recipient_field: str = Field(description="The recipient member this channel needs.")
    plugin: str
    version: str
    receipts: bool = Field(
        description="Whether the provider's delivery receipts are read; without them a notification "
        "stops at `sent`."
    )
    flow: FlowView


class ChannelList(BaseModel):
    data: list[ChannelView]
    count: int


class CircuitCommand(BaseModel):
    """Open a circuit by hand (it stays open, without probes, until closed by hand), or close it."""

    model_config = ConfigDict(extra="forbid")

    state: Literal[CircuitState.OPEN, CircuitState.CLOSED] = Field(examples=["open"])


class RuleView(BaseModel):
    name: str
    when: dict[str, str | list[str]]
    channel: str
    fallback: list[str] | None = Field(description="This rule's fallbacks; null: the file's list.")
    confirm_within_seconds: float | None
    critical: bool


class SuppressionView(BaseModel):
    """An address a channel does not send to. The address itself is never stored or shown."""

    id: str
    channel: str
    reason: Literal["bounced", "undelivered", "opted_out"]
    suppressed_at: datetime


class SuppressionList(BaseModel):
    data: list[SuppressionView]
    count: int


class WebhookAnswer(BaseModel):
    """What a provider's receipt or inbound request did: events read, applied, and ignored."""

    received: int
    applied: int
    ignored: int


class QuietHoursView(BaseModel):
    start: str = Field(examples=["21:00"])
    end: str = Field(examples=["08:00"])


class RoutingView(BaseModel):
    rules: list[RuleView]
    fallback: list[str]
    quiet_hours: dict[str, QuietHoursView] = Field(description="Per channel, in the recipient's time zone.")
