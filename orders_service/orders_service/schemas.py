"""The JSON the API accepts and returns. Input models forbid unknown members."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import pycountry
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.text import plain_text
from orders_service.lifecycle import OrderNotificationStatus, OrderStatus, SequencingType

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


class ShippingInfo(_Input):
    """Where the kit goes; may differ from the user's own address."""

    recipient_name: Line
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


class PlaceOrder(_Input):
    """`POST /orders`. `notification_channel` overrides the routing rules."""

    user_id: Annotated[str, StringConstraints(pattern=ID_PATTERN)] = Field(examples=["u_ada"])
    sequencing_type: SequencingType
    shipping_info: ShippingInfo
    notification_channel: Annotated[str, StringConstraints(pattern=CHANNEL_NAME_PATTERN)] | None = None


class ChangeOrder(_Input):
    """`PATCH /orders/{id}`: only the status can change, along the lifecycle."""

    status: OrderStatus


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
    created_at: datetime
    updated_at: datetime


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
