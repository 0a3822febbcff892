"""From database rows to the API's JSON shapes (documented by the models in `schemas.py`).

Plain dicts, ready for JSON, and a test checks every shape against its pydantic model.
`GET /users/` pages are written by the database instead (`user_pages`), in the very bytes
`user_view` and orjson give, which a test holds them to.
"""

from __future__ import annotations

from typing import Any

from apikit.responses import utc_iso
from orders_service.models import DNAKitOrder, OrderChange, User


def order_view(order: DNAKitOrder) -> dict[str, Any]:
    """An `OrderView`."""
    return {
        "id": order.id,
        "user_id": order.user_id,
        "sequencing_type": str(order.sequencing_type),
        "status": str(order.status),
        "shipping_info": order.shipping_info,
        "notification": {
            "id": order.notification_id,
            "requested_channel": order.requested_channel,
            "channel": order.notification_channel,
            "status": str(order.notification_status),
            "reason": order.notification_reason,
        },
        "placed_by": order.placed_by,
        "created_at": utc_iso(order.created_at),
        "updated_at": utc_iso(order.updated_at),
    }


def change_view(change: OrderChange) -> dict[str, Any]:
    """A `ChangeView`."""
    return {"kind": str(change.kind), "value": change.value, "actor": change.actor, "at": utc_iso(change.at)}


def order_detail(order: DNAKitOrder) -> dict[str, Any]:
    """An `OrderDetail`; `order.changes` must have been prefetched."""
    return order_view(order) | {"changes": [change_view(change) for change in order.changes]}


def user_view(user: User) -> dict[str, Any]:
    """A `UserView`; `user.orders` must have been prefetched."""
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "phone_number": user.phone_number,
        "address": user.address,
        "contacts": user.contacts or {},
        "created_at": utc_iso(user.created_at),
        "updated_at": utc_iso(user.updated_at),
        "orders": [order_view(order) for order in user.orders],
    }
