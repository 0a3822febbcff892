"""The application factory: `create_app(settings)`, no module-level app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from apikit.application import new_application
from apikit.backoff import Backoff
from apikit.database import database_ctx
from apikit.endpoints import add_endpoints
from apikit.idempotency import IdempotencyStore
from apikit.keys import METRICS_RECORDER, READINESS
from apikit.problems import ProblemType
from apikit.purge import purge_in_background
from apikit.queue import running
from orders_service import notifications, order_notifications, orders, staff, users
from orders_service.console.app import create_console
from orders_service.db import orders_tortoise_config
from orders_service.gateway import GatewayClient, GatewayTokenRefused
from orders_service.gateway_link import GatewayLink
from orders_service.keys import (
    GATEWAY,
    IDEMPOTENCY,
    NOTIFICATIONS,
    RELAY,
    SETTINGS,
    WEBHOOK,
)
from orders_service.models import IdempotencyRecord
from orders_service.notifications import ChannelDirectory, NotificationService
from orders_service.relay import OutboxRelay
from orders_service.relay_metrics import RelayMetrics
from orders_service.retention import orders_purger
from orders_service.routes import ENDPOINTS
from orders_service.settings import OrdersSettings

VERSION = "0.1.0"

DOMAIN_ERRORS = {
    orders.UnknownUser: ProblemType(
        "unknown-user",
        "The order names a user who does not exist",
        422,
        "`user_id` must be the id of an existing user. 422, not 404: the URL is fine, the body is not.",
    ),
    orders.OrderNotFound: ProblemType("order-not-found", "No such order", 404, "No order has this id."),
    users.UserNotFound: ProblemType("user-not-found", "No such user", 404, "No user has this id."),
    users.InvalidContact: ProblemType(
        "invalid-contact",
        "The e-mail address or phone number cannot be used",
        422,
        "The member named by the pointer is not a valid e-mail address or phone number.",
    ),
    order_notifications.NotResendable: ProblemType(
        "not-resendable",
        "Only a failed notification can be sent again",
        409,
        "The notification is still on its way, delivered or cancelled.",
    ),
    staff.StaffError: ProblemType(
        "staff-account-refused",
        "The staff account cannot be added or changed as asked",
        422,
        "The e-mail address is taken or invalid, the role unknown, or the password too short.",
    ),
    staff.SignInRefused: ProblemType(
        "sign-in-refused",
        "The e-mail address and password do not match an enabled account",
        401,
        "Which of the two was wrong is never said.",
    ),
    staff.TooManySignIns: ProblemType(
        "too-many-sign-ins",
        "Too many failed sign-ins",
        429,
        "Failed sign-ins are limited per client address and per account; `Retry-After` says when.",
    ),
    orders.IllegalTransition: ProblemType(
        "illegal-transition",
        "The order cannot move to that status",
        409,
        "The lifecycle does not allow this change from the order's current status.",
    ),
    notifications.ChannelNotOffered: ProblemType(
        "channel-not-offered",
        "The gateway offers no such channel",
        422,
        "`notification_channel` must name a channel the notification gateway has installed.",
    ),
    notifications.ChannelUnusable: ProblemType(
        "channel-unusable",
        "The user cannot be reached on that channel",
        422,
        "The user has no address for the channel named (for example SMS without a phone number).",
    ),
    notifications.ChannelsUnavailable: ProblemType(
        "gateway-unavailable",
        "The notification gateway cannot be reached",
        503,
        "A named channel cannot be checked right now; nothing was written. Retry after the delay.",
    ),
    GatewayTokenRefused: ProblemType(
        "gateway-token-refused",
        "The gateway refused this service's token",
        503,
        "The gateway answered 401 or 403 to this service's token (ORDERS_GATEWAY_TOKEN): a configuration "
        "error an operator must fix. Nothing was written.",
    ),
}

SHUTDOWN_GRACE_SECONDS = 10.0


async def _gateway_client(app: web.Application) -> AsyncIterator[None]:
    """One client, on one HTTP session, for every call to the gateway: the channel directory, the
    readiness checks, the relay and the notification pages all use it."""
    settings = app[SETTINGS]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        app[GATEWAY] = gateway = gateway_client(session, settings)
        callback = str(settings.callback_url) if settings.callback_url else None
        app[NOTIFICATIONS] = NotificationService(ChannelDirectory(gateway), callback_url=callback)
        app[READINESS].extend(gateway_link(gateway, settings).readiness_checks())
        yield


def gateway_client(session: aiohttp.ClientSession, settings: OrdersSettings) -> GatewayClient:
    return GatewayClient(
        session,
        gateway_url=str(settings.gateway_url),
        token=settings.gateway_bearer,
        timeout_seconds=settings.gateway_timeout_seconds,
    )


def gateway_link(gateway: GatewayClient, settings: OrdersSettings) -> GatewayLink:
    return GatewayLink(
        gateway,
        callback_url=str(settings.callback_url) if settings.callback_url else None,
        webhook_secret=settings.webhook_signing_secret,
    )


async def _relay(app: web.Application) -> AsyncIterator[None]:
    """Run this process's outbox relay; on stop, finish or hand back in-flight sends."""
    settings = app[SETTINGS]
    relay = OutboxRelay(
        gateway=app[GATEWAY],
        backoff=Backoff(
            base_seconds=settings.relay_retry_base_seconds, max_seconds=settings.relay_retry_max_seconds
        ),
        concurrency=settings.relay_concurrency,
        lease_seconds=settings.relay_lease_seconds,
        poll_seconds=settings.relay_poll_seconds,
        metrics=RelayMetrics(app[METRICS_RECORDER].registry),
    )
    app[RELAY] = relay
    async with running(relay, grace_seconds=SHUTDOWN_GRACE_SECONDS):
        yield


def create_app(settings: OrdersSettings) -> web.Application:
    app = new_application(
        title="DNA kit orders",
        version=VERSION,
        description="Admin staff place DNA kit orders for existing users; each user is told by "
        "SMS or e-mail that their order was placed.",
        realm="orders",
        tokens=settings.token_registry(),
        max_body_bytes=settings.max_body_bytes,
        domain_errors=DOMAIN_ERRORS,
        rate_limit=settings.rate_limit,
    )
    app[SETTINGS] = settings
    app[IDEMPOTENCY] = IdempotencyStore(IdempotencyRecord)
    secret = settings.webhook_signing_secret
    app[WEBHOOK] = Webhook(secret) if secret else None
    config = orders_tortoise_config(settings.database_url)
    app.cleanup_ctx.append(database_ctx(config, sqlite_synchronous=settings.sqlite_synchronous))
    app.cleanup_ctx.append(_gateway_client)
    if settings.relay_enabled:
        app.cleanup_ctx.append(_relay)
    if settings.purge_enabled:
        purger = partial(orders_purger, settings)  # what the retention settings no longer keep
        app.cleanup_ctx.append(purge_in_background(purger, settings.purge_interval_seconds))
    add_endpoints(app, ENDPOINTS)
    app.add_subapp("/console", create_console(settings))
    return app
