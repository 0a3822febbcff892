"""Every `web.AppKey` of the orders service, in one place."""

from __future__ import annotations

from aiohttp import web
from standardwebhooks.webhooks import Webhook

from apikit.idempotency import IdempotencyStore
from apikit.wakeups import Announcer
from orders_service.gateway import GatewayClient
from orders_service.notifications import NotificationService
from orders_service.relay import OutboxRelay
from orders_service.settings import OrdersSettings

SETTINGS = web.AppKey("settings", OrdersSettings)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
NOTIFICATIONS = web.AppKey("notifications", NotificationService)
RELAY = web.AppKey("relay", OutboxRelay)
WEBHOOK = web.AppKey("webhook", Webhook | None)
GATEWAY = web.AppKey("gateway", GatewayClient)
ANNOUNCER = web.AppKey("announcer", Announcer | None)  # in a process that runs no relay
