"""Every `web.AppKey` apikit uses, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from apikit.endpoints import Endpoint
    from apikit.problems import ProblemType
    from apikit.readiness import ReadinessCheck

ENDPOINTS = web.AppKey("endpoints", list["Endpoint"])
TOKENS = web.AppKey("tokens", "TokenRegistry")
REALM = web.AppKey("realm", str)
METRICS_RECORDER = web.AppKey("metrics_recorder", "HttpMetrics")
RATE_LIMITER = web.AppKey("rate_limiter", "RateLimiter")
READINESS = web.AppKey("readiness", list["ReadinessCheck"])
PROBLEM_TYPES = web.AppKey("problem_types", dict[str, "ProblemType"])
SERVICE_INFO = web.AppKey("service_info", dict[str, str])
DOMAIN_ERRORS = web.AppKey("domain_errors", dict[type, "ProblemType"])

# Per-request storage.
REQUEST_ID = web.RequestKey("request_id", str)
PRINCIPAL = web.RequestKey("principal", "Principal")
