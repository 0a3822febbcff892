"""Every `web.AppKey` and `web.RequestKey` the sandbox uses, in one place."""

from __future__ import annotations

from aiohttp import web

from provider_sandbox.faults import FaultBoard
from provider_sandbox.recording import Recorder
from provider_sandbox.settings import SandboxSettings
from provider_sandbox.webhooks import WebhookSender

SETTINGS = web.AppKey("settings", SandboxSettings)
RECORDER = web.AppKey("recorder", Recorder)
FAULTS = web.AppKey("faults", FaultBoard)
WEBHOOKS = web.AppKey("webhooks", WebhookSender)

# Per request: what the provider endpoint did, for the log line
# ("accepted", "rejected", "fault", "reset" or "abandoned").
OUTCOME = web.RequestKey("outcome", str)
