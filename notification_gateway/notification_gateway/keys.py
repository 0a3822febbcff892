"""Every `web.AppKey` of the gateway, in one place."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import aiohttp
from aiohttp import web

from apikit.idempotency import IdempotencyStore
from notification_gateway.callbacks import CallbackPolicy, CallbackSender
from notification_gateway.confirmation import ConfirmationWorker
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.flow import FlowControl
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.receipts import ReceiptContext
from notification_gateway.recipient_caps import RecipientCap
from notification_gateway.routing import RoutingRules
from notification_gateway.settings import GatewaySettings

SETTINGS = web.AppKey("settings", GatewaySettings)
CHANNELS = web.AppKey("channels", ChannelRegistry)
ROUTING = web.AppKey("routing", RoutingRules)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
DELIVERY_METRICS = web.AppKey("delivery_metrics", DeliveryMetrics)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
WORKER = web.AppKey("worker", DeliveryWorker)
CALLBACK_POLICY = web.AppKey("callback_policy", CallbackPolicy)
CALLBACK_SENDER = web.AppKey("callback_sender", CallbackSender)
FLOW = web.AppKey("flow", FlowControl)
RECIPIENT_CAPS = web.AppKey("recipient_caps", dict[str, RecipientCap])
CLOCK = web.AppKey("clock", Callable[[], datetime])
RECEIPTS = web.AppKey("receipts", ReceiptContext)
CONFIRMATION_WORKER = web.AppKey("confirmation_worker", ConfirmationWorker)
