"""The application factory: `create_app(settings)`, no module-level app."""

from __future__ import annotations

from aiohttp import web

from provider_sandbox import control, providers
from provider_sandbox.faults import FaultBoard
from provider_sandbox.keys import FAULTS, RECORDER, SETTINGS
from provider_sandbox.middlewares import access_log_middleware, json_error_middleware
from provider_sandbox.recording import Recorder
from provider_sandbox.settings import SandboxSettings

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
    app.router.add_routes(providers.ROUTES)
    app.router.add_routes(control.ROUTES)
    return app
