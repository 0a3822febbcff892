"""HTTP handlers: parse the request, call the domain, shape the answer. Nothing else."""

from __future__ import annotations

from functools import partial

from aiohttp import web
from pydantic import BaseModel, Field
from tortoise.exceptions import IntegrityError

from apikit.database import transaction
from apikit.errors import DomainError
from apikit.idempotency import key_of
from apikit.ids import CHANNEL_NAME_PATTERN, ID_PATTERN
from apikit.keys import DOMAIN_ERRORS, PRINCIPAL
from apikit.pagination import PageQuery, encode_cursor
from apikit.problems import FieldError, Problem
from apikit.queue import utc_now
from apikit.validation import parse_query, read_body
from notification_gateway import notifications, receipts, suppression
from notification_gateway.batches import accept_batch
from notification_gateway.flow import ChannelNotFound
from notification_gateway.keys import (
    CALLBACK_POLICY,
    CHANNELS,
    CLOCK,
    FLOW,
    IDEMPOTENCY,
    RECEIPTS,
    RECIPIENT_CAPS,
    ROUTING,
    SETTINGS,
    WORKER,
)
from notification_gateway.presenters import channel_view, notification_view
from notification_gateway.schemas import (
    BatchRequest,
    BatchResult,
    CancelByReference,
    CancelledByReference,
    ChannelList,
    CircuitCommand,
    NotificationPage,
    NotifyRequest,
    RoutingView,
    SuppressionList,
    SuppressionView,
    WebhookAnswer,
)
from notification_gateway.status import NotificationStatus


def _json(model: BaseModel) -> dict:
    return model.model_dump(mode="json")


def _wake_worker(request: web.Request, lane: str | None = None) -> None:
    """The delivery worker of this process looks for due work now: in `lane` alone, if given."""
    worker = request.app.get(WORKER)
    if worker is not None:
        worker.wake(lane)


async def notify(request: web.Request) -> web.Response:
    """Accept a notification for delivery. It is stored before the 202, so it cannot be lost.

    The channel is the caller's `channel` if given, else the first routing rule
    that matches `attributes`, else a fallback. Send an `Idempotency-Key`: the
    same key never makes a second notification.
    """
    command = await read_body(request, NotifyRequest)
    caller = request[PRINCIPAL].name
    idempotency = request.app[IDEMPOTENCY]
    payload = partial(command.model_dump, mode="json")  # only needed when an Idempotency-Key came
    async with idempotency.claim(request, principal=caller, payload=payload) as claim:
        if claim.replay is not None:
            return claim.replay
        async with transaction() as connection:
            notification, event = await notifications.accept(
                command,
                caller=caller,
                channels=request.app[CHANNELS],
                rules=request.app[ROUTING],
                callbacks=request.app[CALLBACK_POLICY],
                caps=request.app[RECIPIENT_CAPS],
                default_timezone=request.app[SETTINGS].default_zone(),
                connection=connection,
                now=request.app[CLOCK](),
            )
            body = _json(notification_view(notification, attempts=[], events=[event]))  # just created
            response = await claim.answer(
                connection, 202, body, {"Location": f"/notifications/{notification.id}"}
            )
    _wake_worker(request, lane=str(notification.priority))  # lanes are named by priority
    return response


async def notify_batch(request: web.Request) -> web.Response:
    """Accept one message template for up to 1,000 recipients: one notification each.

    Each item of the answer holds its notification's id, or the problem that
    refused that recipient alone; the others are accepted all the same. A fault in
    what every recipient shares (message, channel, callback, `send_at`) refuses the
    whole request. With an `Idempotency-Key`, sending the batch again makes no second
    notification for any recipient: its earlier one is answered, marked `replayed`.
    """
    limit = request.app[SETTINGS].max_batch_body_bytes
    command = await read_body(request.clone(client_max_size=limit), BatchRequest)
    caller = request[PRINCIPAL].name
    try:
        async with transaction() as connection:
            items = await accept_batch(
                command,
                batch_key=key_of(request),
                caller=caller,
                channels=request.app[CHANNELS],
                rules=request.app[ROUTING],
                callbacks=request.app[CALLBACK_POLICY],
                caps=request.app[RECIPIENT_CAPS],
                default_timezone=request.app[SETTINGS].default_zone(),
                problem_of=lambda error: _problem_body(request, error),
                connection=connection,
                now=request.app[CLOCK](),
            )
    except IntegrityError:
        raise Problem(
            409,
            detail="A request with this Idempotency-Key is making the same notifications now; retry it.",
            headers={"Retry-After": "1"},
        ) from None
    accepted = sum(1 for item in items if item.id is not None)
    if accepted:
        _wake_worker(request)
    body = BatchResult(data=items, accepted=accepted, refused=len(items) - accepted)
    return web.json_response(_json(body), status=202)


def _problem_body(request: web.Request, error: DomainError) -> dict:
    """The RFC 9457 object the error would answer alone, for one item of a batch."""
    mapped = request.config_dict[DOMAIN_ERRORS]
    kind = next(mapped[cls] for cls in type(error).__mro__ if cls in mapped)
    errors = [FieldError(error.detail, pointer=error.pointer)] if error.pointer else []
    extra = {"retry_after": error.retry_after} if error.retry_after is not None else {}
    return Problem.of(kind, error.detail, errors=errors, **extra).body(request.path)


async def get_notification(request: web.Request) -> web.Response:
    """A notification's status, channel and every attempt with its time, outcome and error."""
    found = await notifications.get(request.match_info["notification_id"], caller=request[PRINCIPAL].name)
    return web.json_response(_json(notification_view(found)))


class NotificationQuery(PageQuery):
    """Filters for `GET /notifications`; repeat `status` for several."""

    status: list[NotificationStatus] = Field(
        default_factory=list,
        description="queued, sending, sent, delivered, undelivered, bounced, failed, cancelled, suppressed",
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


async def cancel_by_reference(request: web.Request) -> web.Response:
    """Withdraw every notification of yours with this `reference` that no provider was asked to send.

    The answer lists those cancelled now and those it was too late for (with their status); the
    caller gets a `notification.cancelled` callback for each one cancelled. 404 if none has it.
    """
    command = await read_body(request, CancelByReference)
    cancelled, others = await notifications.cancel_by_reference(
        command.reference, caller=request[PRINCIPAL].name
    )
    body = CancelledByReference(
        reference=command.reference,
        cancelled=cancelled,
        not_cancelled=[{"id": n.id, "status": str(n.status)} for n in others],
    )
    return web.json_response(_json(body))


async def list_channels(request: web.Request) -> web.Response:
    """The channels installed plugins provide: name, plugin version, the recipient field each needs,
    and its flow control (circuit breaker, pause, send rate) as every gateway process sees it."""
    flow = request.app[FLOW]
    states = await flow.refresh(utc_now())
    entries = [
        channel_view(entry, states[entry.channel.name], flow.config)
        for entry in request.app[CHANNELS]
        if entry.channel.name in states
    ]
    return web.json_response(_json(ChannelList(data=entries, count=len(entries))))


async def set_circuit(request: web.Request) -> web.Response:
    """Open a channel's circuit by hand (its messages wait, or go on to a fallback, until it is
    closed: no probes) or close it (sending resumes at once). Operators only."""
    command = await read_body(request, CircuitCommand)
    name = request.match_info["channel"]
    entry = request.app[CHANNELS].entry(name)
    if entry is None:
        raise ChannelNotFound("No installed channel has this name; GET /channels lists them.")
    flow = request.app[FLOW]
    state = await flow.set_circuit(name, command.state, by=request[PRINCIPAL].name, now=utc_now())
    _wake_worker(request)
    return web.json_response(_json(channel_view(entry, state, flow.config)))


async def show_routing(request: web.Request) -> web.Response:
    """The routing rules in force, in the order they are tried, and the fallback channels."""
    return web.json_response(_json(RoutingView.model_validate(request.app[ROUTING].to_dict())))


async def receive_receipts(request: web.Request) -> web.Response:
    """A provider's delivery receipts for messages it accepted, signed with the channel's key.

    No caller token: the provider's signature is the authentication (401 without it).
    A receipt for a message the gateway does not know is acknowledged and kept, so a
    receipt that beats the recording of its send is applied then; a repeated one is
    applied once; none moves a notification backwards.
    """
    body = await request.read()
    context = request.app[RECEIPTS]
    channel = request.match_info["channel"]
    found = receipts.read_receipts(context.channels, channel, request.headers, body)
    outcome = await receipts.apply_receipts(context, channel, found)
    if outcome.woke:
        _wake_worker(request)
    answer = WebhookAnswer(received=outcome.received, applied=outcome.applied, ignored=outcome.ignored)
    return web.json_response(_json(answer))


async def receive_inbound(request: web.Request) -> web.Response:
    """Messages users sent the service (an SMS reply), signed like receipts: `STOP` opts the
    number out of the channel, `START` opts it back in; anything else is acknowledged and ignored."""
    body = await request.read()
    context = request.app[RECEIPTS]
    channel = request.match_info["channel"]
    messages = receipts.read_inbound(context.channels, channel, request.headers, body)
    outcome = await receipts.apply_inbound(context, channel, messages)
    answer = WebhookAnswer(received=outcome.received, applied=outcome.applied, ignored=outcome.ignored)
    return web.json_response(_json(answer))


class SuppressionQuery(BaseModel):
    """Both are needed: suppressions are found by address, never listed."""

    channel: str = Field(pattern=CHANNEL_NAME_PATTERN)
    address: str = Field(min_length=1, max_length=320, description="The e-mail address, number or topic.")


async def find_suppressions(request: web.Request) -> web.Response:
    """Whether an address is suppressed on a channel (bounced, undelivered N times running, opted out)."""
    query = parse_query(request, SuppressionQuery)
    found = await receipts.find_suppression(request.app[RECEIPTS], query.channel, query.address)
    data = [
        SuppressionView(id=row.id, channel=row.channel, reason=row.reason, suppressed_at=row.suppressed_at)
        for row in found
    ]
    return web.json_response(_json(SuppressionList(data=data, count=len(data))))


async def lift_suppression(request: web.Request) -> web.Response:
    """Lift a suppression (operators only): the channel sends to the address again."""
    await suppression.lift(request.match_info["suppression_id"], by=request[PRINCIPAL].name)
    return web.Response(status=204)
