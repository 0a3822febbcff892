"""The application factory: `create_app(settings)`, no module-level app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import UTC, datetime
from functools import partial

import aiohttp
from aiohttp import web

from apikit.application import new_application
from apikit.backoff import Backoff
from apikit.database import database_ctx
from apikit.endpoints import add_endpoints
from apikit.idempotency import IdempotencyStore
from apikit.keys import METRICS_RECORDER
from apikit.problems import ProblemType
from apikit.purge import purge_in_background
from apikit.queue import running
from notification_gateway import batches, notifications, receipts, routing, scheduling, suppression, templates
from notification_gateway.callbacks import CallbackPolicy, CallbackSender
from notification_gateway.confirmation import ConfirmationWorker
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.flow import ANY_CHANNEL, ChannelNotFound, FlowControl
from notification_gateway.keys import (
    CALLBACK_POLICY,
    CALLBACK_SENDER,
    CHANNELS,
    CLOCK,
    CONFIRMATION_WORKER,
    DELIVERY_METRICS,
    FLOW,
    HTTP_SESSION,
    IDEMPOTENCY,
    RECEIPTS,
    RECIPIENT_CAPS,
    ROUTING,
    SETTINGS,
    WORKER,
)
from notification_gateway.lanes import delivery_lanes
from notification_gateway.metrics import DeliveryMetrics, FlowMetrics
from notification_gateway.models import IdempotencyRecord
from notification_gateway.plugins import ChannelRegistry, load_channels
from notification_gateway.policy import RetryPolicy
from notification_gateway.recipient_caps import RecipientCapReached, parse_caps
from notification_gateway.retention import gateway_purger
from notification_gateway.routes import ENDPOINTS
from notification_gateway.settings import GatewaySettings

log = logging.getLogger("notification_gateway")

VERSION = "0.1.0"
SHUTDOWN_GRACE_SECONDS = 10.0
CALLBACK_CONCURRENCY = 8
# A backstop only: each channel sets its own, shorter, per-request timeout.
SESSION_TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10)

DOMAIN_ERRORS = {
    routing.UnknownChannel: ProblemType(
        "unknown-channel",
        "No such channel",
        422,
        "`channel` must name an installed channel; `detail` lists them and `GET /channels` describes them.",
    ),
    routing.Unreachable: ProblemType(
        "recipient-unreachable",
        "The recipient cannot be reached on that channel",
        422,
        "The recipient has no usable address for the channel asked for, nor for any fallback.",
    ),
    templates.TemplateError: ProblemType(
        "template-error",
        "The message template cannot be filled",
        422,
        "Placeholders are plain names: {user_name}, {user_id} or an attribute's name.",
    ),
    notifications.NotificationNotFound: ProblemType(
        "notification-not-found", "No such notification", 404, "No notification of yours has this id."
    ),
    RecipientCapReached: ProblemType(
        "recipient-cap-reached",
        "Too many notifications to this recipient",
        429,
        "Each address may get a limited number of notifications per channel and window "
        "(GATEWAY_RECIPIENT_LIMITS), which stops SMS pumping. Retry after the delay.",
    ),
    ChannelNotFound: ProblemType(
        "channel-not-found", "No such channel", 404, "`GET /channels` lists the installed channels."
    ),
    notifications.NotCancellable: ProblemType(
        "not-cancellable",
        "Sending has started, so it can no longer be cancelled",
        409,
        "Only a queued notification that no provider has been asked to send can be cancelled.",
    ),
    notifications.ReferenceNotFound: ProblemType(
        "reference-not-found",
        "No notification has this reference",
        404,
        "None of your notifications carries this `reference`.",
    ),
    scheduling.SendAtOutOfRange: ProblemType(
        "send-at-out-of-range",
        "send_at is too far ahead",
        422,
        "A notification can wait at most 30 days; `send_at` needs a UTC offset.",
    ),
    batches.DuplicateRecipient: ProblemType(
        "duplicate-recipient",
        "This recipient is already in the batch",
        422,
        "Each recipient id may appear once in a batch; its later entries are refused.",
    ),
    receipts.NoWebhooks: ProblemType(
        "no-receipts",
        "This channel takes no receipts or inbound messages",
        404,
        "The channel is not installed, its plugin reads no provider webhooks of this kind, or its "
        "<CHANNEL>_RECEIPT_SECRET is not set.",
    ),
    receipts.WebhookRefused: ProblemType(
        "bad-provider-signature",
        "The provider's signature is missing, wrong or stale",
        401,
        "Receipts and inbound messages are authenticated by the provider's signature over the raw body, "
        "made with the channel's receipt secret, at most five minutes old.",
    ),
    receipts.WebhookUnreadable: ProblemType(
        "unreadable-provider-webhook",
        "The provider's request cannot be read",
        400,
        "It is signed, but its body is not what the channel's provider sends.",
    ),
    suppression.NoSuchChannel: ProblemType(
        "no-such-channel",
        "No such channel",
        404,
        "Suppressions are looked up on an installed channel; `detail` lists them.",
    ),
    suppression.SuppressionNotFound: ProblemType(
        "suppression-not-found", "No such suppression", 404, "No suppression in force has this id."
    ),
    notifications.NotRetryable: ProblemType(
        "not-retryable",
        "Only failed notifications can be retried",
        409,
        "This one is still on its way or delivered.",
    ),
}


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    """One ClientSession for every provider call of this process."""
    connector = aiohttp.TCPConnector(limit=app[SETTINGS].delivery_concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=SESSION_TIMEOUT) as session:
        app[HTTP_SESSION] = session
        yield


async def _channel_states(app: web.Application) -> AsyncIterator[None]:
    """Every installed channel has its shared flow-control row before anything reads it."""
    await app[FLOW].ensure_rows(entry.channel.name for entry in app[CHANNELS])
    yield


async def _callbacks(app: web.Application) -> AsyncIterator[None]:
    """Send owed status callbacks until each caller accepts them."""
    settings = app[SETTINGS]
    sender = CallbackSender(
        session=app[HTTP_SESSION],
        policy=app[CALLBACK_POLICY],
        backoff=Backoff(base_seconds=settings.retry_base_seconds, max_seconds=settings.retry_max_seconds),
        concurrency=CALLBACK_CONCURRENCY,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
    )
    app[CALLBACK_SENDER] = sender
    async with running(sender, grace_seconds=SHUTDOWN_GRACE_SECONDS):
        yield


async def _delivery(app: web.Application) -> AsyncIterator[None]:
    """Run this process's delivery worker; on stop, finish or hand back in-flight work."""
    settings = app[SETTINGS]
    worker = DeliveryWorker(
        channels=app[CHANNELS],
        session=app[HTTP_SESSION],
        policy=RetryPolicy(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
        ),
        metrics=app[DELIVERY_METRICS],
        receipts=app[RECEIPTS],
        flow=app[FLOW],
        quiet=scheduling.QuietHours(app[ROUTING].quiet_hours, settings.default_zone()),
        on_called_back=app[CALLBACK_SENDER].wake,
        concurrency=settings.delivery_concurrency,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
        lanes=delivery_lanes(settings.bulk_share),
    )
    app[WORKER] = worker
    async with running(worker, grace_seconds=SHUTDOWN_GRACE_SECONDS):
        yield


async def _confirmations(app: web.Application) -> AsyncIterator[None]:
    """Fall back when a sent notification's `delivered` receipt does not come in time."""
    settings = app[SETTINGS]
    worker = ConfirmationWorker(
        on_requeued=app[WORKER].wake,
        concurrency=CALLBACK_CONCURRENCY,
        lease_seconds=settings.lease_seconds,
        poll_seconds=settings.poll_seconds,
    )
    app[CONFIRMATION_WORKER] = worker
    async with running(worker, grace_seconds=SHUTDOWN_GRACE_SECONDS):
        yield


def _flow_problems(flow: FlowControl, channels: ChannelRegistry) -> list[str]:
    """Breakers and rates naming a channel that is not installed: harmless, probably a typo."""
    installed = {entry.channel.name for entry in channels}
    named = [*flow.config.breakers, *flow.config.rates]
    return [
        f"GATEWAY_BREAKERS or GATEWAY_SEND_RATES names {name!r}, which is not an installed channel"
        for name in dict.fromkeys(named)
        if name != ANY_CHANNEL and name not in installed
    ]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: GatewaySettings,
    *,
    extra_plugins: Iterable[tuple[str, object]] = (),
    clock: Callable[[], datetime] = _utc_now,
) -> web.Application:
    """`extra_plugins` registers (name, plugin) pairs beside the installed ones, and `clock` is what
    accepting a notification takes as now (quiet hours, `send_at`): tests use them."""
    app = new_application(
        title="Notification gateway",
        version=VERSION,
        description="Internal services POST /notify; the gateway picks a channel, stores the notification "
        "and delivers it through a channel plugin, with retries, exactly once as far as it can tell.",
        realm="notification-gateway",
        tokens=settings.token_registry(),
        max_body_bytes=settings.max_body_bytes,
        domain_errors=DOMAIN_ERRORS,
        rate_limit=settings.rate_limit,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[CHANNELS] = load_channels(settings.allowed_plugins(), extra_plugins)
    app[ROUTING] = routing.RoutingRules.load(settings.routing_file)
    for problem in app[ROUTING].problems(app[CHANNELS]):
        log.warning(problem)
    app[IDEMPOTENCY] = IdempotencyStore(IdempotencyRecord)
    app[RECIPIENT_CAPS] = parse_caps(settings.recipient_limits)
    app[CALLBACK_POLICY] = CallbackPolicy(settings.allowed_callback_origins(), settings.signing_secrets())
    app[DELIVERY_METRICS] = DeliveryMetrics(app[METRICS_RECORDER].registry)
    rules = suppression.SuppressionRules(settings.address_hash_key(), settings.suppress_after_undelivered)
    app[RECEIPTS] = receipts.ReceiptContext(app[CHANNELS], rules)
    for entry in app[CHANNELS]:
        if callable(getattr(entry.channel, "parse_receipt", None)) and not receipts.reads(
            entry.channel, "parse_receipt"
        ):
            log.warning(
                "%s_RECEIPT_SECRET is not set: %s receipts are refused and its notifications stop at sent",
                entry.channel.name.upper(),
                entry.channel.name,
            )
    app.cleanup_ctx.append(database_ctx(gateway_tortoise_config(settings.pooled_database_url())))
    app[FLOW] = FlowControl(settings.flow_config(), FlowMetrics(app[METRICS_RECORDER].registry))
    for problem in _flow_problems(app[FLOW], app[CHANNELS]):
        log.warning(problem)
    app.cleanup_ctx.append(_channel_states)
    app.cleanup_ctx.append(_http_session)
    if settings.workers_enabled:
        app.cleanup_ctx.append(_callbacks)  # stops last: it sends what the others' last records owe
        app.cleanup_ctx.append(_delivery)
        app.cleanup_ctx.append(_confirmations)
    if settings.purge_enabled:
        purger = partial(gateway_purger, settings)  # what the retention settings no longer keep
        app.cleanup_ctx.append(purge_in_background(purger, settings.purge_interval_seconds))
    add_endpoints(app, ENDPOINTS)
    return app
