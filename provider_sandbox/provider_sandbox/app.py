"""The application factory: `create_app(settings)`, no module-level app."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from provider_sandbox import control, providers
from provider_sandbox.faults import FaultBoard
from provider_sandbox.keys import FAULTS, RECORDER, SETTINGS, WEBHOOKS
from provider_sandbox.middlewares import access_log_middleware, json_error_middleware
from provider_sandbox.recording import Recorder
from provider_sandbox.settings import SandboxSettings
from provider_sandbox.webhooks import WebhookSender

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: SandboxSettings) -> web.Application:
    """A fresh sandbox: empty logs, no faults. State lives in the app, so tests never share it."""
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[access_log_middleware, json_error_middleware],
    )
    app[SETTINGS] = settings
    app[RECORDER] = Recorder()
    app[FAULTS] = FaultBoard()
    app[WEBHOOKS] = WebhookSender(settings)
    app.cleanup_ctx.append(_webhook_sending)
    app.router.add_routes(providers.ROUTES)
    app.router.add_routes(control.ROUTES)
    return app


async def _webhook_sending(app: web.Application) -> AsyncIterator[None]:
    """The HTTP session and background task that send receipts and inbound messages."""
    timeout = aiohttp.ClientTimeout(total=app[SETTINGS].receipt_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        task = asyncio.create_task(app[WEBHOOKS].run(session), name="webhooks")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
