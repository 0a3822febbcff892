"""Every `web.AppKey` of the orders service, in one place."""

from __future__ import annotations

from aiohttp import web

from apikit.idempotency import IdempotencyStore
from orders_service.settings import OrdersSettings

SETTINGS = web.AppKey("settings", OrdersSettings)
IDEMPOTENCY = web.AppKey("idempotency", IdempotencyStore)
