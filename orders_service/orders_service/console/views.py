"""Console pages. Each handler reads a form or a query, calls the same domain functions as the
JSON API, and renders a template; a refused change re-renders the form with the problem's
messages next to their fields, and writes nothing."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from aiohttp import web
from aiohttp_session import get_session, new_session

from apikit.database import transaction
from apikit.errors import DomainError
from apikit.pagination import decode_cursor, encode_cursor
from apikit.problems import IDEMPOTENCY_IN_FLIGHT, IDEMPOTENCY_KEY_REUSED, Problem
from apikit.validation import validate
from orders_service import order_notifications, orders, staff, suppressions, users
from orders_service.console import forms
from orders_service.console.guard import (
    actor_of,
    check_sign_in_csrf,
    require_admin,
    set_sign_in_csrf,
)
from orders_service.console.keys import SESSION_STORAGE, STAFF
from orders_service.console.templating import render
from orders_service.keys import GATEWAY, IDEMPOTENCY, NOTIFICATIONS, SETTINGS
from orders_service.lifecycle import OrderNotificationStatus, OrderStatus, SequencingType, allowed_next
from orders_service.models import DNAKitOrder, User
from orders_service.notifications import ChannelsUnavailable, recipient_of
from orders_service.schemas import COUNTRY_CODES, ChangeUser, OrderQuery, PlaceOrder, Resend
from orders_service.views import placed_and_answered, wake_relay

PAGE_SIZE = 50
# A form submitted again: said the way staff see it, not as the API's Idempotency-Key.
REPEATED_FORM = {
    IDEMPOTENCY_KEY_REUSED: {
        "form": "This form has already placed an order, with other details. Check the orders below; "
        "the form is fresh now if another order is needed."
    },
    IDEMPOTENCY_IN_FLIGHT: {
        "form": "This order is still being placed; it will be in the list of orders below in a moment."
    },
}
RECIPIENT_FIELDS = {
    "email": "e-mail address",
    "phone_number": "phone number",
    "push_topic": "push topic",
}


def _see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


def _page_after(request: web.Request) -> str | None:
    cursor = request.query.get("cursor")
    try:
        return decode_cursor(cursor) if cursor else None
    except ValueError:
        raise Problem(400, detail="This page link is not valid; go back to the first page.") from None


# --- signing in and out --------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path inside the console: never an address elsewhere (no open redirect)."""
    if target and target.startswith("/console/") and not target.startswith("//"):
        return target
    return "/console/users"


async def sign_in_page(request: web.Request, *, error: str | None = None, status: int = 200, email: str = ""):
    token = secrets.token_urlsafe(32)
    response = render(
        "sign_in.html",
        request,
        {
            "error": error,
            "email": email,
            "next": _safe_next(request.query.get("next")),
            "sign_in_token": token,
        },
        status=status,
    )
    set_sign_in_csrf(response, token, secure=request.config_dict[SETTINGS].secure_cookies)
    return response


async def show_sign_in(request: web.Request) -> web.StreamResponse:
    return await sign_in_page(request)


async def sign_in(request: web.Request) -> web.StreamResponse:
    await check_sign_in_csrf(request)
    settings = request.config_dict[SETTINGS]
    form = await request.post()
    email = str(form.get("email", ""))[:254]
    limit = staff.SignInLimit(settings.sign_in_max_failures, settings.sign_in_window_seconds)
    try:
        member = await staff.sign_in(
            email=email,
            password=str(form.get("password", ""))[:1024],
            address=request.remote or "",
            limit=limit,
        )
    except staff.TooManySignIns as exc:
        minutes = max(1, round((exc.retry_after or 60) / 60))
        response = await sign_in_page(
            request,
            error=f"Too many failed sign-ins. Try again in about {minutes} minute(s).",
            status=429,
            email=email,
        )
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except staff.SignInRefused as exc:
        return await sign_in_page(request, error=exc.detail, status=400, email=email)
    old = await get_session(request)
    if old.identity:
        await request.app[SESSION_STORAGE].forget(old.identity)
    session = await new_session(request)  # a new token at every sign-in
    session["staff_id"] = member.id
    session["csrf"] = secrets.token_urlsafe(32)
    target = request.query.get("next") or str(form.get("next", ""))
    raise _see_other(_safe_next(target))


async def sign_out(request: web.Request) -> web.StreamResponse:
    session = await get_session(request)
    session.invalidate()
    raise _see_other("/console/sign-in")


async def home(request: web.Request) -> web.StreamResponse:
    raise _see_other("/console/users")


# --- users ---------------------------------------------------------------------------------------


async def list_users(request: web.Request) -> web.StreamResponse:
    typed = "".join(char for char in request.query.get("q", "") if char.isprintable())
    q = typed.strip()[:100] or None
    found, last_id = await users.list_users(
        limit=PAGE_SIZE,
        after=_page_after(request),
        q=q,
        default_region=request.config_dict[SETTINGS].default_phone_region,
    )
    context = {"q": q or "", "users": found, "next_cursor": encode_cursor(last_id) if last_id else None}
    return render("users.html", request, context)


async def _notify_options(request: web.Request, user: User) -> tuple[list[dict[str, Any]], str | None]:
    """ "Notify by" choices: each channel the gateway offers, disabled with the reason when this user
    cannot get it; and why there are none beyond Automatic, if the gateway cannot be asked."""
    try:
        channels = await request.config_dict[NOTIFICATIONS].directory.channels()
    except ChannelsUnavailable:
        return [], "The notification gateway cannot be reached, so its channels cannot be listed. "
    reachable = recipient_of(user)
    options = []
    for name, info in sorted(channels.items()):
        missing = info.recipient_field not in reachable
        needs = RECIPIENT_FIELDS.get(info.recipient_field, info.recipient_field.replace("_", " "))
        options.append({"name": name, "disabled": missing, "reason": f"no {needs}" if missing else None})
    return options, None


async def _standings(request: web.Request, user: User, *, only: str | None = None) -> suppressions.Standings:
    """Whether the gateway suppresses this user's address on each channel (or why it cannot say)."""
    return await suppressions.of_user(
        user,
        directory=request.config_dict[NOTIFICATIONS].directory,
        gateway=request.config_dict[GATEWAY],
        only=only,
    )


async def _user_page(
    request: web.Request,
    user: User,
    *,
    contact_errors: dict[str, str] | None = None,
    contact_values: dict[str, Any] | None = None,
    order_errors: dict[str, str] | None = None,
    order_values: dict[str, Any] | None = None,
    status: int = 200,
) -> web.StreamResponse:
    options, channels_problem = await _notify_options(request, user)
    standings = await _standings(request, user)
    address = user.address or {}
    default_shipping = {
        "recipient_name": user.name,
        "address_lines": address.get("address_lines", []),
        "city": address.get("city"),
        "region": address.get("region"),
        "postcode": address.get("postcode"),
        "country": address.get("country", request.config_dict[SETTINGS].default_phone_region),
    }
    context = {
        "user": user,
        "orders": sorted(user.orders, key=lambda order: order.id, reverse=True),
        "contact": contact_values
        or {
            "name": user.name,
            "email": user.email,
            "phone_number": user.phone_number or "",
            "address": address,
        },
        "contact_errors": contact_errors or {},
        "saved": request.query.get("saved") == "contact" and not contact_errors,
        "order": order_values
        or {"sequencing_type": "", "notification_channel": "", "shipping_info": default_shipping},
        "order_errors": order_errors or {},
        # Each form shown is one order: a second submission of it (a double click, Back and submit
        # again, a retry after a lost answer) shows the order the first one placed.
        "order_key": secrets.token_urlsafe(16),
        "kit_types": list(SequencingType),
        "notify_options": options,
        "channels_problem": channels_problem,
        "standings": standings,
        "countries": COUNTRY_CODES,
    }
    return render("user.html", request, context, status=status)


async def show_user(request: web.Request) -> web.StreamResponse:
    return await _user_page(request, await users.get_user(request.match_info["user_id"]))


async def change_user(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    user = await users.get_user(request.match_info["user_id"])
    values = forms.change_user_from(await request.post())
    try:
        change = validate(ChangeUser, values)
        await users.change_user(
            user.id, change, default_region=request.config_dict[SETTINGS].default_phone_region
        )
    except (Problem, DomainError) as error:
        shown = values | {"phone_number": values["phone_number"] or "", "address": values["address"] or {}}
        return await _user_page(
            request, user, contact_errors=forms.errors_of(error), contact_values=shown, status=422
        )
    raise _see_other(f"/console/users/{user.id}?saved=contact")


async def place_order(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    user = await users.get_user(request.match_info["user_id"])
    form = await request.post()
    values = forms.place_order_from(form, user.id)
    held = request.config_dict[IDEMPOTENCY].hold(
        forms.form_key(form),
        method=request.method,
        path=request.path,
        principal=f"console:{request[STAFF].id}",
        payload=values,
    )
    try:
        async with held as claim:
            if claim.replay is not None:
                raise _see_other(claim.replay.headers["Location"])
            order, _ = await placed_and_answered(
                request,
                validate(PlaceOrder, values),
                claim,
                actor=actor_of(request),
                answer=lambda order: (303, {"id": order.id}, {"Location": f"/console/orders/{order.id}"}),
            )
    except (Problem, DomainError) as error:
        status = forms.status_of(error, request)
        shown = values | {"notification_channel": values["notification_channel"] or ""}
        errors = REPEATED_FORM.get(getattr(error, "type", None)) or forms.errors_of(error)
        return await _user_page(request, user, order_errors=errors, order_values=shown, status=status)
    raise _see_other(f"/console/orders/{order.id}")


# --- orders --------------------------------------------------------------------------------------


async def list_orders(request: web.Request) -> web.StreamResponse:
    filters = {
        name: value
        for name in ("status", "notification_status", "placed_by", "user_id")
        if (value := request.query.get(name))
    }
    try:
        query = OrderQuery.model_validate(
            filters | {"limit": PAGE_SIZE, "cursor": request.query.get("cursor") or None}
        )
    except ValueError:
        raise Problem(400, detail="One of the filters is not valid; clear them and try again.") from None
    found, last_id = await orders.list_orders(query)
    attention: list[DNAKitOrder] = []
    if not request.query.get("cursor") and query.notification_status is None:
        attention, _ = await orders.list_orders(
            OrderQuery(notification_status=OrderNotificationStatus.FAILED, limit=PAGE_SIZE)
        )
    context = {
        "orders": found,
        "attention": attention,
        "filters": filters,
        "statuses": list(OrderStatus),
        "notification_statuses": list(OrderNotificationStatus),
        "next_cursor": encode_cursor(last_id) if last_id else None,
    }
    return render("orders.html", request, context)


def _entries(gateway: dict[str, Any]) -> list[dict[str, Any]]:
    """The gateway's side of one hand-over, oldest first: each event (every change of status, with
    its source and reason) and each attempt that did not get the message sent (those carry the
    provider's answer; a successful one is the `sent` event). A notification from before events
    were kept shows its attempts alone."""
    attempts = gateway["attempts"]
    if gateway["events"]:
        attempts = [attempt for attempt in attempts if attempt["outcome"] != "sent"]
    entries = [{"kind": "event", "at": event["occurred_at"], **event} for event in gateway["events"]]
    entries += [{"kind": "attempt", "at": attempt["started_at"], **attempt} for attempt in attempts]
    return sorted(entries, key=lambda entry: datetime.fromisoformat(entry["at"]))


async def _order_context(request: web.Request, order_id: str) -> dict[str, Any]:
    order = await orders.get_order(order_id, with_changes=True)
    story = await order_notifications.story(order.id, gateway=request.config_dict[GATEWAY])
    for message in story["messages"]:
        message["entries"] = _entries(message["gateway"]) if message["gateway"] else []
    user = await User.get(id=order.user_id)
    options, channels_problem = await _notify_options(request, user)
    suppression = None
    if order.notification_status is OrderNotificationStatus.SUPPRESSED:
        suppression = await _standings(request, user, only=order.notification_channel)
    return {
        "order": order,
        "user": user,
        "story": story,
        "suppression": suppression,
        "moves": sorted(allowed_next(order.status), key=list(OrderStatus).index),
        "notify_options": options,
        "channels_problem": channels_problem,
        "resendable": order.notification_status is OrderNotificationStatus.FAILED,
    }


async def show_order(request: web.Request, *, errors: dict[str, str] | None = None, status: int = 200):
    context = await _order_context(request, request.match_info["order_id"])
    context["errors"] = errors or {}
    return render("order.html", request, context, status=status)


async def order_timeline(request: web.Request) -> web.StreamResponse:
    """The timeline alone, for htmx to swap in while the notification is still on its way."""
    context = await _order_context(request, request.match_info["order_id"])
    return render("_timeline.html", request, context)


async def change_order_status(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    form = await request.post()
    actor = actor_of(request)
    try:
        new_status = OrderStatus(str(form.get("status", "")))
    except ValueError:
        return await show_order(request, errors={"status": "Choose one of the moves shown."}, status=422)
    try:
        order = await orders.change_status(request.match_info["order_id"], new_status, actor=actor)
    except orders.IllegalTransition as error:
        return await show_order(request, errors={"status": error.detail}, status=409)
    if new_status is OrderStatus.CANCELLED:
        await order_notifications.cancel(order, actor=actor, gateway=request.config_dict[GATEWAY])
    raise _see_other(f"/console/orders/{order.id}")


async def resend_notification(request: web.Request) -> web.StreamResponse:
    require_admin(request)
    order_id = request.match_info["order_id"]
    form = await request.post()
    channel = str(form.get("channel", "")).strip() or None
    notifications = request.config_dict[NOTIFICATIONS]
    try:
        command = validate(Resend, {"channel": channel})
        await order_notifications.check_resend(order_id, command.channel, notifications=notifications)
        async with transaction() as connection:
            await order_notifications.resend(
                order_id,
                channel=command.channel,
                actor=actor_of(request),
                notifications=notifications,
                connection=connection,
            )
    except order_notifications.NotResendable as error:
        return await show_order(request, errors={"channel": error.detail}, status=409)
    except (Problem, DomainError) as error:
        return await show_order(
            request, errors=forms.errors_of(error), status=forms.status_of(error, request)
        )
    wake_relay(request)
    raise _see_other(f"/console/orders/{order_id}")
