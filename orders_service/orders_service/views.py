"""HTTP handlers: parse the request, call the domain, shape the answer. Nothing else."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from aiohttp import web

from apikit.database import transaction
from apikit.idempotency import Claim
from apikit.keys import PRINCIPAL
from apikit.pagination import encode_cursor
from apikit.responses import json_response
from apikit.validation import parse_query, read_body
from orders_service import order_notifications, orders, user_pages, users, webhooks
from orders_service.keys import ANNOUNCER, GATEWAY, IDEMPOTENCY, NOTIFICATIONS, RELAY, SETTINGS, WEBHOOK
from orders_service.lifecycle import OrderStatus
from orders_service.models import DNAKitOrder
from orders_service.presenters import order_detail, order_view, user_view
from orders_service.schemas import ChangeOrder, ChangeUser, NewUser, OrderQuery, PlaceOrder, Resend, UserQuery


def token_actor(request: web.Request) -> str:
    """How a machine caller is named in `placed_by` and an order's changes."""
    return f"token:{request[PRINCIPAL].name}"


def _next_link(request: web.Request, next_cursor: str | None) -> dict[str, str]:
    if not next_cursor:
        return {}
    query = request.rel_url.query.copy()
    query["cursor"] = next_cursor
    return {"Link": f'<{request.rel_url.with_query(query)}>; rel="next"'}


def wake_relay(request: web.Request) -> None:
    """After a commit that added outbox rows: send them now rather than at a relay's next poll.

    This process's relay is woken directly; without one, relays elsewhere hear a NOTIFY."""
    if (relay := request.config_dict.get(RELAY)) is not None:
        relay.wake()
    elif (announcer := request.config_dict.get(ANNOUNCER)) is not None:
        announcer.announce()


async def place_order(request: web.Request) -> web.Response:
    """Place a DNA kit order for an existing user. The user is notified once it is stored.

    Send an `Idempotency-Key` to make retries safe: the same key and body replay
    the first answer; the same key with another body is a 422; a request still
    in flight with that key is a 409.
    """
    command = await read_body(request, PlaceOrder)
    idempotency = request.app[IDEMPOTENCY]
    payload = partial(command.model_dump, mode="json")  # only needed when an Idempotency-Key came
    async with idempotency.claim(request, principal=request[PRINCIPAL].name, payload=payload) as claim:
        if claim.replay is not None:
            return claim.replay
        _order, response = await placed_and_answered(
            request,
            command,
            claim,
            actor=token_actor(request),
            answer=lambda order: (201, order_view(order), {"Location": f"/orders/{order.id}"}),
        )
    return response


async def placed_and_answered(
    request: web.Request,
    command: PlaceOrder,
    claim: Claim,
    *,
    actor: str,
    answer: Callable[[DNAKitOrder], tuple[int, Any, dict[str, str]]],
) -> tuple[DNAKitOrder, web.Response]:
    """Check the order, then place it and store its answer (`answer(order)`: status, body,
    headers) for replays of `claim`'s key in one transaction; the relay hears of it at once.
    The API and the console's order form both place orders so."""
    notifications = request.config_dict[NOTIFICATIONS]
    user = await orders.check_order(command, notifications=notifications)
    async with transaction() as connection:
        order = await orders.place_order(
            command, user=user, actor=actor, notifications=notifications, connection=connection
        )
        response = await claim.answer(connection, *answer(order))
    wake_relay(request)
    return order, response


async def get_order(request: web.Request) -> web.Response:
    """One order, with the state of its notification, who placed it and every change since."""
    order = await orders.get_order(request.match_info["order_id"], with_changes=True)
    return json_response(order_detail(order))


async def change_order(request: web.Request) -> web.Response:
    """Move an order along its lifecycle; a move the lifecycle forbids is a 409.

    Cancelling withdraws the order's notification if nothing has been sent yet."""
    change = await read_body(request, ChangeOrder)
    actor = token_actor(request)
    order = await orders.change_status(request.match_info["order_id"], change.status, actor=actor)
    if change.status is OrderStatus.CANCELLED:
        await order_notifications.cancel(order, actor=actor, gateway=request.app[GATEWAY])
    order = await orders.get_order(order.id, with_changes=True)
    return json_response(order_detail(order))


async def list_orders(request: web.Request) -> web.Response:
    """Orders, newest first, filtered. `notification_status=failed` lists those that need attention."""
    query = parse_query(request, OrderQuery)
    found, last_id = await orders.list_orders(query)
    next_cursor = encode_cursor(last_id) if last_id else None
    body = {"data": [order_view(order) for order in found], "count": len(found), "next_cursor": next_cursor}
    return json_response(body, headers=_next_link(request, next_cursor))


async def get_order_notification(request: web.Request) -> web.Response:
    """Everything known about the order's notification: each hand-over to the gateway and each
    delivery attempt there. When the gateway cannot be asked, the answer says so and still
    shows what this service knows."""
    story = await order_notifications.story(request.match_info["order_id"], gateway=request.app[GATEWAY])
    return json_response(story)


async def resend_notification(request: web.Request) -> web.Response:
    """Send a failed (or refused) notification again, optionally by another channel; the history
    stays. Send an `Idempotency-Key` to make retries safe."""
    command = await read_body(request, Resend)
    notifications = request.app[NOTIFICATIONS]
    order_id = request.match_info["order_id"]

    idempotency = request.app[IDEMPOTENCY]

    def payload() -> dict:
        return {"order_id": order_id, **command.model_dump(mode="json")}

    async with idempotency.claim(request, principal=request[PRINCIPAL].name, payload=payload) as claim:
        if claim.replay is not None:
            return claim.replay
        await order_notifications.check_resend(order_id, command.channel, notifications=notifications)
        async with transaction() as connection:
            order = await order_notifications.resend(
                order_id,
                channel=command.channel,
                actor=token_actor(request),
                notifications=notifications,
                connection=connection,
            )
            response = await claim.answer(
                connection, 202, order_view(order), {"Location": f"/orders/{order.id}/notification"}
            )
    wake_relay(request)
    return response


async def list_users(request: web.Request) -> web.Response:
    """Users with all their orders, ordered by id; `q` finds users by name (partly), e-mail or
    phone number in any common format. Follow `next_cursor` for the next page."""
    page = parse_query(request, UserQuery)
    found = await user_pages.read_page(
        limit=page.limit,
        after=page.after,
        q=page.q,
        default_region=request.app[SETTINGS].default_phone_region,
    )
    next_cursor = encode_cursor(found.last_id) if found.last_id else None
    return web.Response(
        body=user_pages.page_body(found, next_cursor),
        content_type="application/json",
        headers=_next_link(request, next_cursor),
    )


async def create_user(request: web.Request) -> web.Response:
    """Add a user. The phone number may be in any common format and is stored in E.164."""
    command = await read_body(request, NewUser)
    user = await users.create_user(command, default_region=request.app[SETTINGS].default_phone_region)
    return json_response(user_view(user), status=201, headers={"Location": f"/users/{user.id}"})


async def change_user(request: web.Request) -> web.Response:
    """Change a user's name, e-mail, phone number or address (a merge patch). Users are never deleted."""
    change = await read_body(request, ChangeUser)
    user = await users.change_user(
        request.match_info["user_id"], change, default_region=request.app[SETTINGS].default_phone_region
    )
    return json_response(user_view(user))


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
