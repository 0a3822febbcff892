"""The console's request and app keys."""

from __future__ import annotations

from aiohttp import web

from orders_service.console.sessions import DatabaseSessionStorage
from orders_service.models import Staff

STAFF = web.RequestKey("staff", Staff)
CSRF_TOKEN = web.RequestKey("csrf_token", str)
SESSION_STORAGE = web.AppKey("session_storage", DatabaseSessionStorage)
