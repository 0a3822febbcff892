"""Every `web.AppKey` and `web.RequestKey` the sandbox uses, in one place."""

from __future__ import annotations

from aiohttp import web

from provider_sandbox.faults import FaultBoard
from provider_sandbox.recording import Recorder
from provider_sandbox.settings import SandboxSettings

SETTINGS = web.AppKey("settings", SandboxSettings)
RECORDER = web.AppKey("recorder", Recorder)
FAULTS = web.AppKey("faults", FaultBoard)

# Per request: what the provider endpoint did ("accepted", "rejected", "fault", "reset", "abandoned"), for the log line.
OUTCOME = web.RequestKey("outcome", str)
