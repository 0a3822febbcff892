"""Every `web.AppKey` of the orders service, in one place."""

from __future__ import annotations

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from apikit.idempotency import IdempotencyStore
from orders_service.gateway import GatewayClient
from orders_service.gateway_link import GatewayLink
from orders_service.notifications import NotificationService
from orders_service.relay import OutboxRelay
from orders_service.settings import OrdersSettings

SETTINGS = web.AppKey("settings", OrdersSettings)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
HTTP_SESSION = web.AppKey("http_session", aiohttp.ClientSession)
NOTIFICATIONS = web.AppKey("notifications", NotificationService)
RELAY = web.AppKey("relay", OutboxRelay)
GATEWAY_LINK = web.AppKey("gateway_link", GatewayLink)
WEBHOOK = web.AppKey("webhook", Webhook | None)
GATEWAY = web.AppKey("gateway", GatewayClient)
