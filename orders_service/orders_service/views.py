"""HTTP handlers: parse the request, call the domain, shape the answer. Nothing else."""

from __future__ import annotations

from aiohttp import web

from apikit.database import transaction
from apikit.keys import PRINCIPAL
from apikit.pagination import PageQuery, encode_cursor
from apikit.responses import json_response
from apikit.validation import parse_query, read_body
from orders_service import orders, users, webhooks
from orders_service.keys import IDEMPOTENCY, NOTIFICATIONS, RELAY, WEBHOOK
from orders_service.presenters import order_view, user_view
from orders_service.schemas import ChangeOrder, PlaceOrder


async def place_order(request: web.Request) -> web.Response:
    """Place a DNA kit order for an existing user. The user is notified once it is stored.

    Send an `Idempotency-Key` to make retries safe: the same key and body replay
    the first answer; the same key with another body is a 422; a request still
    in flight with that key is a 409.
    """
    command = await read_body(request, PlaceOrder)
    notifications = request.app[NOTIFICATIONS]
    idempotency = request.app[IDEMPOTENCY]
    payload = command.model_dump(mode="json")
    async with idempotency.claim(request, principal=request[PRINCIPAL].name, payload=payload) as claim:
        if claim.replay is not None:
            return claim.replay
        user = await orders.check_order(command, notifications=notifications)
        async with transaction() as connection:
            order = await orders.place_order(
                command, user=user, notifications=notifications, connection=connection
            )
            response = await claim.answer(
                connection, 201, order_view(order), {"Location": f"/orders/{order.id}"}
            )
    if (relay := request.app.get(RELAY)) is not None:
        relay.wake()
    return response


async def get_order(request: web.Request) -> web.Response:
    """One order, with the state of its notification."""
    order = await orders.get_order(request.match_info["order_id"])
    return json_response(order_view(order))


async def change_order(request: web.Request) -> web.Response:
    """Move an order along its lifecycle; a move the lifecycle forbids is a 409."""
    change = await read_body(request, ChangeOrder)
    order = await orders.change_status(request.match_info["order_id"], change.status)
    return json_response(order_view(order))


async def list_users(request: web.Request) -> web.Response:
    """Users with all their orders, ordered by id. Follow `next_cursor` for the next page."""
    page = parse_query(request, PageQuery)
    found, last_id = await users.list_users(limit=page.limit, after=page.after)
    next_cursor = encode_cursor(last_id) if last_id else None
    body = {"data": [user_view(user) for user in found], "count": len(found), "next_cursor": next_cursor}
    headers = (
        {"Link": f'<{request.path}?limit={page.limit}&cursor={next_cursor}>; rel="next"'}
        if next_cursor
        else {}
    )
    return json_response(body, headers=headers)


async def receive_notification_status(request: web.Request) -> web.Response:
    """The gateway's signed status callback (Standard Webhooks); unsigned or forged ones are 401.

    A `webhook-id` seen before is acknowledged and ignored.
    """
    callback = webhooks.verify(request.app[WEBHOOK], await request.read(), dict(request.headers))
    applied = await webhooks.apply(request.headers["webhook-id"], callback)
    return web.Response(status=204) if applied else json_response({"status": "duplicate"})


async def get_user(request: web.Request) -> web.Response:
    """One user with all their orders."""
    user = await users.get_user(request.match_info["user_id"])
    return json_response(user_view(user))
