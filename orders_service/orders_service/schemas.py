"""The JSON the API accepts and returns. Input models forbid unknown members."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.pagination import PageQuery
from apikit.text import plain_text
from orders_service.lifecycle import (
    OrderChangeKind,
    OrderNotificationStatus,
    OrderStatus,
    OutboxStatus,
    SequencingType,
)

Line = plain_text(200)
Place = plain_text(100)


COUNTRY_CODES = sorted(country.alpha_2 for country in pycountry.countries)


def _iso_country(code: str) -> str:
    if pycountry.countries.get(alpha_2=code.upper()) is None:
        raise ValueError("must be an ISO 3166-1 alpha-2 country code, such as GB")
    return code.upper()


# Lower case is accepted and upper-cased; the schema lists the canonical codes.
CountryCode = Annotated[
    str,
    AfterValidator(_iso_country),
    WithJsonSchema({"type": "string", "enum": COUNTRY_CODES, "description": "ISO 3166-1 alpha-2"}),
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Address(_Input):
    """A postal address."""

    address_lines: list[Line] = Field(min_length=1, max_length=4)
    city: Place
    region: Place | None = None
    postcode: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=2, max_length=12, pattern=r"^[A-Za-z0-9][A-Za-z0-9 -]*$"
        ),
    ]
    country: CountryCode


class ShippingInfo(Address):
    """Where the kit goes; may differ from the user's own address."""

    recipient_name: Line


class PlaceOrder(_Input):
    """`POST /orders`. `notification_channel` overrides the routing rules."""

    user_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] = Field(examples=["u_ada"])
    sequencing_type: SequencingType
    shipping_info: ShippingInfo
    notification_channel: Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)] | None = None


class ChangeOrder(_Input):
    """`PATCH /orders/{id}`: only the status can change, along the lifecycle."""

    status: OrderStatus


Channel = Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)]
Name = plain_text(200)
EmailText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
PhoneText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=32)]


class NewUser(_Input):
    """`POST /users`. The phone number may be in any common format; it is stored in E.164."""

    name: Name
    email: EmailText
    phone_number: PhoneText | None = None
    address: Address | None = None


class ChangeUser(_Input):
    """`PATCH /users/{id}` (JSON merge patch): members left out stay; `null` removes a phone or address."""

    name: Name = Field(None, description="Cannot be removed.")
    email: EmailText = Field(None, description="Cannot be removed.")
    phone_number: PhoneText | None = None
    address: Address | None = None


class UserQuery(PageQuery):
    """`GET /users/`: `q` matches name (partly), e-mail, or phone number in any common format."""

    q: plain_text(100, trimmed=False) | None = Field(None, description="Search text (no control characters).")


class OrderQuery(PageQuery):
    """`GET /orders` filters; every one given must hold."""

    user_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] | None = None
    status: OrderStatus | None = None
    notification_status: OrderNotificationStatus | None = Field(
        None, description="`failed` lists the orders that need attention."
    )
    placed_by: str | None = Field(None, max_length=300, description="staff:<e-mail> or token:<principal>.")
    created_after: datetime | None = Field(None, description="ISO 8601, e.g. 2026-01-31T00:00:00Z.")
    created_before: datetime | None = Field(None, description="ISO 8601; orders created before this.")

    @field_validator("created_after", "created_before", mode="before")
    @classmethod
    def _iso_8601(cls, value: object) -> object:
        # pydantic would also read a bare number as a Unix time; the API speaks ISO 8601 only.
        if isinstance(value, str) and not re.match(r"^\d{4}-\d{2}-\d{2}", value):
            raise ValueError("must be an ISO 8601 date-time, such as 2026-01-31T00:00:00Z")
        return value


class Resend(_Input):
    """`POST /orders/{id}/notification/resend`: optionally another channel than last time."""

    channel: Channel | None = None


class NotificationView(BaseModel):
    id: str | None = Field(description="The notification's id at the gateway; null until it has one.")
    requested_channel: str | None = Field(description="Channel the admin asked for, if any.")
    channel: str | None = Field(description="Channel the gateway chose; null until it has.")
    status: OrderNotificationStatus
    reason: str | None = Field(
        None,
        description="Why, in the gateway's words: `bounced on email (mailbox_unavailable): trying sms`, "
        "`the address is suppressed on sms (opted_out)`...",
    )


class OrderView(BaseModel):
    id: str
    user_id: str
    sequencing_type: SequencingType
    status: OrderStatus
    shipping_info: dict[str, Any]
    notification: NotificationView
    placed_by: str | None = Field(description="staff:<e-mail> or token:<principal>; null for old orders.")
    created_at: datetime
    updated_at: datetime


class ChangeView(BaseModel):
    """Who did what to the order, and when."""

    kind: OrderChangeKind
    value: str | None = Field(description="The new status, or the channel asked for.")
    actor: str
    at: datetime


class OrderDetail(OrderView):
    """One order with its history of changes, oldest first."""

    changes: list[ChangeView]


class OrderPage(BaseModel):
    """A page of orders, newest first; follow `next_cursor` for more."""

    data: list[OrderView]
    count: int
    next_cursor: str | None


class GatewayAttempt(BaseModel):
    """One delivery attempt, as the gateway reports it (errors already redacted there)."""

    number: int
    channel: str
    outcome: str
    provider_status: int | None
    error: str | None
    started_at: datetime


class GatewayEvent(BaseModel):
    """One change of the notification's status at the gateway, with who made it and why."""

    sequence: int
    status: str
    channel: str
    source: str = Field(
        description="caller (this service), worker, provider (a receipt), operator, or gateway "
        "(a fallback hop it made after a receipt, or around an open circuit)"
    )
    reason: str | None
    occurred_at: datetime


class GatewayNotification(BaseModel):
    id: str
    status: str
    channel: str
    requested_channel: str | None
    fallback_channels: list[str]
    attempts: list[GatewayAttempt]
    events: list[GatewayEvent]


class NotificationMessage(BaseModel):
    """One hand-over to the gateway (the first, or a resend), with what the gateway did with it."""

    outbox_id: str
    status: OutboxStatus = Field(description="pending: not yet accepted by the gateway; failed: refused.")
    requested_channel: str | None
    handover_attempts: int
    last_error: str | None = Field(description="Why the gateway refused it, or why it is still waiting.")
    created_at: datetime
    sent_at: datetime | None
    notification_id: str | None
    gateway: GatewayNotification | None = Field(description="Null when not handed over or not reachable.")


class NotificationStory(BaseModel):
    """Everything known about an order's notification, from this service's outbox and the gateway."""

    order_id: str
    status: OrderNotificationStatus
    channel: str | None
    reason: str | None = Field(description="The gateway's word on the latest change, as on the order.")
    final: bool
    gateway_reachable: bool
    gateway_problem: str | None = Field(description="Why the gateway's side is missing, if it is.")
    messages: list[NotificationMessage]


class UserView(BaseModel):
    id: str
    name: str
    email: str
    phone_number: str | None
    address: dict[str, Any] | None
    contacts: dict[str, str] = Field(description="Other contact points, e.g. push_topic.")
    created_at: datetime
    updated_at: datetime
    orders: list[OrderView]


class UserPage(BaseModel):
    """A page of users. `count` is the number of users in `data`; follow `next_cursor` for more."""

    data: list[UserView]
    count: int
    next_cursor: str | None
