"""HTTP handlers: parse the request, call the domain, shape the answer. Nothing else."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from apikit.database import transaction
from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.keys import PRINCIPAL
from apikit.pagination import PageQuery, encode_cursor
from apikit.validation import parse_query, read_body
from notification_gateway import notifications
from notification_gateway.keys import CALLBACK_POLICY, CHANNELS, IDEMPOTENCY, RECIPIENT_CAPS, ROUTING, WORKER
from notification_gateway.presenters import channel_view, notification_view
from notification_gateway.schemas import ChannelList, NotificationPage, NotifyRequest, RoutingView
from notification_gateway.status import NotificationStatus


def _json(model: BaseModel) -> dict:
    return model.model_dump(mode="json")


def _wake_worker(request: web.Request) -> None:
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.wake()


async def notify(request: web.Request) -> web.Response:
    """Accept a notification for delivery. It is stored before the 202, so it cannot be lost.

    The channel is the caller's `channel` if given, else the first routing rule
    that matches `attributes`, else a fallback. Send an `Idempotency-Key`: the
    same key never makes a second notification.
    """
    command = await read_body(request, NotifyRequest)
    caller = request[PRINCIPAL].name
    idempotency = request.app[IDEMPOTENCY]
    async with idempotency.claim(request, principal=caller, payload=command.model_dump(mode="json")) as claim:
        if claim.replay is not None:
            return claim.replay
        async with transaction() as connection:
            notification = await notifications.accept(
                command,
                caller=caller,
                channels=request.app[CHANNELS],
                rules=request.app[ROUTING],
                callbacks=request.app[CALLBACK_POLICY],
                caps=request.app[RECIPIENT_CAPS],
                connection=connection,
            )
            body = _json(notification_view(notification, attempts=[]))  # just created: no attempts yet
            response = await claim.answer(
                connection, 202, body, {"Location": f"/notifications/{notification.id}"}
            )
    _wake_worker(request)
    return response


async def get_notification(request: web.Request) -> web.Response:
    """A notification's status, channel and every attempt with its time, outcome and error."""
    found = await notifications.get(request.match_info["notification_id"], caller=request[PRINCIPAL].name)
    return web.json_response(_json(notification_view(found)))


class NotificationQuery(PageQuery):
    """Filters for `GET /notifications`; repeat `status` for several."""

    status: list[NotificationStatus] = Field(
        default_factory=list, description="queued, sending, delivered, failed, cancelled"
    )
    channel: str | None = Field(None, pattern=CHANNEL_NAME_PATTERN)
    recipient_id: str | None = Field(None, pattern=ID_PATTERN)


async def list_notifications(request: web.Request) -> web.Response:
    """The caller's notifications, newest first, filtered by status, channel or recipient."""
    query = parse_query(request, NotificationQuery)
    found, last_id = await notifications.page(
        caller=request[PRINCIPAL].name,
        limit=query.limit,
        after=query.after,
        statuses=query.status,
        channel=query.channel,
        recipient_id=query.recipient_id,
    )
    next_cursor = encode_cursor(last_id) if last_id else None
    body = NotificationPage(
        data=[notification_view(n) for n in found], count=len(found), next_cursor=next_cursor
    )
    return web.json_response(_json(body))


async def retry_notification(request: web.Request) -> web.Response:
    """Queue a failed notification again, with a fresh attempt budget on its last channel."""
    notification = await notifications.retry(
        request.match_info["notification_id"], caller=request[PRINCIPAL].name
    )
    _wake_worker(request)
    return web.json_response(
        _json(notification_view(notification)),
        status=202,
        headers={"Location": f"/notifications/{notification.id}"},
    )


async def cancel_notification(request: web.Request) -> web.Response:
    """Withdraw a notification before any provider was asked to send it; 409 once sending has started."""
    notification = await notifications.cancel(
        request.match_info["notification_id"], caller=request[PRINCIPAL].name
    )
    return web.json_response(_json(notification_view(notification)))


async def list_channels(request: web.Request) -> web.Response:
    """The channels installed plugins provide: name, plugin version and the recipient field each needs."""
    entries = [channel_view(entry) for entry in request.app[CHANNELS]]
    return web.json_response(_json(ChannelList(data=entries, count=len(entries))))


async def show_routing(request: web.Request) -> web.Response:
    """The routing rules in force, in the order they are tried, and the fallback channels."""
    return web.json_response(_json(RoutingView.model_validate(request.app[ROUTING].to_dict())))
