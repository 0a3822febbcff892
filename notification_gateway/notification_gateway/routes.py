"""The gateway's route table: one entry per operation, read by the router and by OpenAPI."""

from __future__ import annotations

from apikit.endpoints import Endpoint, Link, Response
from notification_gateway import callers, views
from notification_gateway.schemas import (
    BatchRequest,
    BatchResult,
    CancelByReference,
    CancelledByReference,
    ChannelList,
    ChannelView,
    CircuitCommand,
    NotificationPage,
    NotificationView,
    NotifyRequest,
    RoutingView,
    SuppressionList,
    WebhookAnswer,
)
from notification_gateway.settings import CALLER, OPERATOR

CALLERS = frozenset({CALLER})
OPERATORS = frozenset({OPERATOR})
_SIGNED = (
    "Signed by the provider (for the shipped plugins: `X-Sandbox-Timestamp` and `X-Sandbox-Signature`, "
    "HMAC-SHA256 of `<timestamp>.<body>` with `<CHANNEL>_RECEIPT_SECRET`); no bearer token."
)

_accepted = Response(
    "Accepted and stored; delivery follows",
    NotificationView,
    headers={"Location": "The notification", "Idempotent-Replayed": "`true` on a replay"},
    links={
        "ReadNotification": Link("get_notification", {"notification_id": "$response.body#/id"}),
        "RetryNotification": Link("retry_notification", {"notification_id": "$response.body#/id"}),
    },
)

ENDPOINTS = [
    Endpoint(
        "POST",
        "/notify",
        views.notify,
        "Send a notification",
        {202: _accepted},
        roles=CALLERS,
        body=NotifyRequest,
        problems=[409, 429],
        idempotency_key=True,
        tags=["notifications"],
    ),
    Endpoint(
        "POST",
        "/notify/batch",
        views.notify_batch,
        "Send one message to many recipients",
        {202: Response("Each recipient's notification id, or the problem that refused it", BatchResult)},
        roles=CALLERS,
        body=BatchRequest,
        problems=[409],
        idempotency_key=True,
        tags=["notifications"],
    ),
    Endpoint(
        "POST",
        "/notifications/cancel",
        views.cancel_by_reference,
        "Cancel your pending notifications with a reference",
        {200: Response("Those cancelled now, and those it was too late for", CancelledByReference)},
        roles=CALLERS,
        body=CancelByReference,
        problems=[404],
        tags=["notifications"],
    ),
    Endpoint(
        "GET",
        "/notifications",
        views.list_notifications,
        "List your notifications",
        {200: Response("A page of notifications, newest first", NotificationPage)},
        roles=CALLERS,
        query=views.NotificationQuery,
        tags=["notifications"],
    ),
    Endpoint(
        "GET",
        "/notifications/{notification_id:(?!cancel$)[^/]+}",  # POST /notifications/cancel is its own
        views.get_notification,
        "Read a notification and its attempts",
        {200: Response("The notification", NotificationView)},
        roles=CALLERS,
        problems=[404],
        tags=["notifications"],
    ),
    Endpoint(
        "POST",
        "/notifications/{notification_id}/retry",
        views.retry_notification,
        "Retry a failed notification",
        {202: Response("Queued again", NotificationView, headers={"Location": "The notification"})},
        roles=CALLERS,
        problems=[404, 409],
        tags=["notifications"],
    ),
    Endpoint(
        "POST",
        "/notifications/{notification_id}/cancel",
        views.cancel_notification,
        "Cancel a notification not yet sent",
        {200: Response("Cancelled (or it already was)", NotificationView)},
        roles=CALLERS,
        problems=[404, 409],
        tags=["notifications"],
    ),
    Endpoint(
        "GET",
        "/channels",
        views.list_channels,
        "List installed channels",
        {200: Response("The channels", ChannelList)},
        roles=CALLERS | OPERATORS,
        tags=["channels"],
    ),
    Endpoint(
        "POST",
        "/channels/{channel}/circuit",
        views.set_circuit,
        "Open or close a channel's circuit by hand",
        {200: Response("The channel, with its circuit as set", ChannelView)},
        roles=OPERATORS,
        body=CircuitCommand,
        problems=[404],
        tags=["channels"],
    ),
    Endpoint(
        "GET",
        "/routing",
        views.show_routing,
        "Show the routing rules",
        {200: Response("The rules in force", RoutingView)},
        roles=CALLERS,
        tags=["channels"],
    ),
    Endpoint(
        "POST",
        "/receipts/{channel}",
        views.receive_receipts,
        "Take a provider's delivery receipts",
        {200: Response(f"Taken (duplicates and unknown references are ignored). {_SIGNED}", WebhookAnswer)},
        body_media_types=("application/json",),
        problems=[400, 401, 404],
        tags=["providers"],
    ),
    Endpoint(
        "POST",
        "/inbound/{channel}",
        views.receive_inbound,
        "Take messages users sent (STOP opts out)",
        {200: Response(f"Taken. {_SIGNED}", WebhookAnswer)},
        body_media_types=("application/json",),
        problems=[400, 401, 404],
        tags=["providers"],
    ),
    Endpoint(
        "GET",
        "/suppressions",
        views.find_suppressions,
        "Is this address suppressed on a channel?",
        {200: Response("The suppression in force, if any (a list of none or one)", SuppressionList)},
        roles=CALLERS | OPERATORS,
        query=views.SuppressionQuery,
        problems=[404],
        tags=["suppressions"],
    ),
    Endpoint(
        "DELETE",
        "/suppressions/{suppression_id}",
        views.lift_suppression,
        "Lift a suppression",
        {204: Response("Lifted: the channel sends to the address again")},
        roles=OPERATORS,
        problems=[404],
        tags=["suppressions"],
    ),
    Endpoint(
        "GET",
        "/callers/me",
        callers.show_caller,
        "Show how the gateway knows you",
        {200: Response("Your caller name and status-callback set-up", callers.CallerView)},
        roles=CALLERS,
        tags=["callers"],
    ),
]
