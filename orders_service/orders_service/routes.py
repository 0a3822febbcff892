"""The orders API's route table: one entry per operation, read by the router and by OpenAPI."""

from __future__ import annotations

from apikit.endpoints import Endpoint, Link, Response
from orders_service import views
from orders_service.schemas import (
    ChangeOrder,
    ChangeUser,
    NewUser,
    NotificationStory,
    OrderDetail,
    OrderPage,
    OrderQuery,
    OrderView,
    PlaceOrder,
    Resend,
    UserPage,
    UserQuery,
    UserView,
)
from orders_service.settings import ADMIN, SUPPORT

READERS = frozenset({ADMIN, SUPPORT})
WRITERS = frozenset({ADMIN})

_order = Response("The order and its changes", OrderDetail)
_users = Response(
    "A page of users with their orders",
    UserPage,
    headers={"Link": "The next page, if any"},
    links={"ReadFirstUser": Link("get_user", {"user_id": "$response.body#/data/0/id"})},
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/orders",
        views.place_order,
        "Place a DNA kit order",
        {
            201: Response(
                "Placed (or the replay of the first answer to this Idempotency-Key)",
                OrderView,
                headers={"Location": "The new order", "Idempotent-Replayed": "`true` on a replay"},
                links={
                    "ReadOrder": Link("get_order", {"order_id": "$response.body#/id"}),
                    "ChangeOrder": Link("change_order", {"order_id": "$response.body#/id"}),
                    "ReadUser": Link("get_user", {"user_id": "$response.body#/user_id"}),
                },
            ),
        },
        roles=WRITERS,
        body=PlaceOrder,
        problems=[409],
        idempotency_key=True,
        tags=["orders"],
    ),
    Endpoint(
        "GET",
        "/orders/{order_id}",
        views.get_order,
        "Read an order",
        {200: _order},
        roles=READERS,
        problems=[404],
        tags=["orders"],
    ),
    Endpoint(
        "GET",
        "/orders",
        views.list_orders,
        "List orders, newest first",
        {200: Response("A page of orders", OrderPage, headers={"Link": "The next page, if any"})},
        roles=READERS,
        query=OrderQuery,
        tags=["orders"],
    ),
    Endpoint(
        "GET",
        "/orders/{order_id}/notification",
        views.get_order_notification,
        "Read the story of an order's notification",
        {200: Response("Each hand-over to the gateway and each delivery attempt", NotificationStory)},
        roles=READERS,
        problems=[404],
        tags=["orders"],
    ),
    Endpoint(
        "POST",
        "/orders/{order_id}/notification/resend",
        views.resend_notification,
        "Send a failed notification again",
        {
            202: Response(
                "Queued again (or the replay of the first answer to this Idempotency-Key)",
                OrderView,
                headers={"Location": "The notification's story", "Idempotent-Replayed": "`true` on a replay"},
            )
        },
        roles=WRITERS,
        body=Resend,
        problems=[404, 409, 503],
        idempotency_key=True,
        tags=["orders"],
    ),
    Endpoint(
        "PATCH",
        "/orders/{order_id}",
        views.change_order,
        "Change an order's status",
        {200: _order},
        roles=WRITERS,
        body=ChangeOrder,
        body_media_types=("application/json", "application/merge-patch+json"),
        problems=[404, 409],
        tags=["orders"],
    ),
    Endpoint(
        "GET",
        "/users",
        views.list_users,
        "List users with their orders (the same as GET /users/, without the slash)",
        {200: _users},
        roles=READERS,
        query=UserQuery,
        tags=["users"],
        name="list_users_no_slash",
    ),
    Endpoint(
        "GET",
        "/users/",
        views.list_users,
        "List users with their orders",
        {200: _users},
        roles=READERS,
        query=UserQuery,
        tags=["users"],
    ),
    Endpoint(
        "POST",
        "/users",
        views.create_user,
        "Add a user",
        {201: Response("Added", UserView, headers={"Location": "The new user"})},
        roles=WRITERS,
        body=NewUser,
        tags=["users"],
    ),
    Endpoint(
        "PATCH",
        "/users/{user_id}",
        views.change_user,
        "Change a user's contact details",
        {200: Response("The user", UserView)},
        roles=WRITERS,
        body=ChangeUser,
        body_media_types=("application/json", "application/merge-patch+json"),
        problems=[404],
        tags=["users"],
    ),
    Endpoint(
        "GET",
        "/users/{user_id}",
        views.get_user,
        "Read a user with their orders",
        {200: Response("The user", UserView)},
        roles=READERS,
        problems=[404],
        tags=["users"],
    ),
    Endpoint(
        "POST",
        "/webhooks/notifications",
        views.receive_notification_status,
        "Receive a notification's final status",
        {
            204: Response("Applied"),
            200: Response("Seen before: acknowledged and ignored", media_type="application/json"),
        },
        problems=[400, 401, 413, 422],
        tags=["webhooks"],
    ),
]
