"""The skeleton both services grow from: middlewares, keys and the operational endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aiohttp import web

from apikit.auth import TokenRegistry
from apikit.endpoints import add_endpoints
from apikit.errors import DomainError
from apikit.keys import (
    DOMAIN_ERRORS,
    METRICS_RECORDER,
    PROBLEM_TYPES,
    RATE_LIMITER,
    READINESS,
    REALM,
    SERVICE_INFO,
    TOKENS,
)
from apikit.metrics import HttpMetrics
from apikit.middlewares import observe_middleware, problem_middleware
from apikit.ops import OPS_ENDPOINTS
from apikit.problems import COMMON_PROBLEM_TYPES, ProblemType
from apikit.ratelimit import RateLimiter
from apikit.readiness import DATABASE_CHECK, ReadinessCheck
from apikit.request_ids import request_id_middleware


def new_application(
    *,
    title: str,
    version: str,
    description: str,
    realm: str,
    tokens: TokenRegistry,
    max_body_bytes: int,
    readiness: Sequence[ReadinessCheck] = (),
    domain_errors: Mapping[type[DomainError], ProblemType] | None = None,
    rate_limit: str | None = None,
) -> web.Application:
    """An application with the shared conventions wired in; the caller adds its own endpoints.

    `/readyz` checks the database, then each of `readiness` (more may be appended to
    `app[READINESS]` before start-up)."""
    app = web.Application(
        client_max_size=max_body_bytes,
        middlewares=[request_id_middleware, observe_middleware, problem_middleware],
    )
    app[SERVICE_INFO] = {"title": title, "version": version, "description": description}
    app[REALM] = realm
    app[TOKENS] = tokens
    app[READINESS] = [DATABASE_CHECK, *readiness]
    app[METRICS_RECORDER] = HttpMetrics()
    if rate_limit:
        app[RATE_LIMITER] = RateLimiter(rate_limit)
    app[DOMAIN_ERRORS] = dict(domain_errors or {})
    kinds = (*COMMON_PROBLEM_TYPES, *app[DOMAIN_ERRORS].values())
    app[PROBLEM_TYPES] = {kind.slug: kind for kind in kinds}
    add_endpoints(app, OPS_ENDPOINTS)
    return app
