"""The JSON the gateway accepts and returns. Input models forbid unknown members."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, model_validator

from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.text import plain_text
from notification_gateway.status import AttemptOutcome, CircuitState, EventSource, NotificationStatus

REFERENCE = r"^[A-Za-z0-9._:-]{1,100}$"
CONTACT_FIELD = r"^[a-z][a-z0-9_]{0,31}$"
MAX_CONTACTS = 8
MAX_ATTRIBUTES = 16
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


def _is_contact_field(key: str) -> bool:
    return re.fullmatch(CONTACT_FIELD, key) is not None


class NotifyRequest(BaseModel):
    """`POST /notify`. `message` may name placeholders: `{user_name}`, `{user_id}`, any attribute."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    recipient: RecipientIn
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
    source: EventSource = Field(description="caller, worker, provider (a receipt) or operator")
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


class RoutingView(BaseModel):
    rules: list[RuleView]
    fallback: list[str]
