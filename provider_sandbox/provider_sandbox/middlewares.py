"""One log line per request (never a body, recipient, topic or token) and JSON for every error."""

from __future__ import annotations

import logging
import time

from aiohttp import web

from provider_sandbox.errors import JsonError
from provider_sandbox.keys import OUTCOME

access_log = logging.getLogger("provider_sandbox.access")
log = logging.getLogger("provider_sandbox")


def route_template(request: web.Request) -> str:
    """The matched route's template (`/push/{topic}`), so the log never shows a topic."""
    resource = request.match_info.route.resource
    if request.match_info.http_exception is not None or resource is None:
        return "<unmatched>"
    return resource.canonical


@web.middleware
async def access_log_middleware(request: web.Request, handler):
    started = time.perf_counter()
    status: int | None = None
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        outcome = request.get(OUTCOME)
        shown = "-" if outcome == "reset" or status is None else str(status)
        access_log.info(
            "%s %s %s%s %.0fms",
            request.method,
            route_template(request),
            shown,
            f" {outcome}" if outcome else "",
            (time.perf_counter() - started) * 1000,
        )


@web.middleware
async def json_error_middleware(request: web.Request, handler):
    """aiohttp's own errors (404, 405, 413) and unexpected failures answer JSON like the rest."""
    try:
        return await handler(request)
    except JsonError as error:
        return error.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {name: exc.headers[name] for name in ("Allow",) if name in exc.headers}
        return JsonError(exc.status, exc.reason, headers=headers).response()
    except Exception:
        log.exception("unhandled error in %s %s", request.method, route_template(request))
        return JsonError(500, "unexpected error in the sandbox; see its log").response()
