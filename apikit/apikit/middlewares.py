"""Middlewares: every answer is observed, and every failure becomes a problem.

Order matters: request id (outermost, see `request_ids`), then observation
(metrics and the access log see the final status), then problem rendering.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from apikit.database import is_database_unavailable
from apikit.errors import DomainError
from apikit.keys import DOMAIN_ERRORS, METRICS_RECORDER
from apikit.problems import SERVICE_UNAVAILABLE, FieldError, Problem, ProblemType, problem_response
from apikit.request_ids import request_id_of

log = logging.getLogger("apikit.errors")
access_log = logging.getLogger("apikit.access")

DATABASE_RETRY_AFTER_SECONDS = 5


def _route_template(request: web.Request) -> str:
    """The matched route's template, so metrics do not grow a label per id."""
    resource = request.match_info.route.resource
    if request.match_info.http_exception is not None or resource is None:
        return "unmatched"
    return resource.canonical


def _from_http_exception(exc: web.HTTPException, request: web.Request) -> Problem:
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}
    details = {
        404: f"Nothing is served at {request.path}.",
        405: f"{request.method} is not allowed here. Allowed: {exc.headers.get('Allow', '')}.",
        413: "The request body is larger than this service accepts.",
    }
    return Problem(exc.status, detail=details.get(exc.status, exc.reason), headers=headers)


def _internal_error(exc: BaseException, request: web.Request) -> Problem:
    """A 500 that says only the request id; the log has the traceback under the same id."""
    request_id = request_id_of(request)
    log.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    return Problem(
        500,
        detail=f"Something went wrong on our side. Quote request id {request_id}.",
        extra={"request_id": request_id},
    )


def problem_type_of(error: DomainError, request: web.Request) -> ProblemType | None:
    """The problem type of the error's most specific mapped class (None: unmapped, our bug)."""
    mapped = request.config_dict[DOMAIN_ERRORS]
    return next((mapped[cls] for cls in type(error).__mro__ if cls in mapped), None)


def _from_domain_error(error: DomainError, request: web.Request) -> Problem:
    """The problem type of the error's most specific mapped class; none mapped is our bug, a 500."""
    kind = problem_type_of(error, request)
    if kind is None:
        return _internal_error(error, request)
    errors = [FieldError(error.detail, pointer=error.pointer)] if error.pointer else []
    headers = {"Retry-After": str(error.retry_after)} if error.retry_after is not None else None
    return Problem.of(kind, error.detail, errors=errors, headers=headers)


@web.middleware
async def problem_middleware(request: web.Request, handler):
    """Render `Problem`s, aiohttp's HTTP errors and unexpected exceptions as RFC 9457."""
    try:
        return await handler(request)
    except Problem as problem:
        return problem_response(problem, instance=request.path)
    except DomainError as error:
        return problem_response(_from_domain_error(error, request), instance=request.path)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return problem_response(_from_http_exception(exc, request), instance=request.path)
    except Exception as exc:
        if not is_database_unavailable(exc):
            return problem_response(_internal_error(exc, request), instance=request.path)
        log.warning("database unavailable: %s", type(exc).__name__)
        problem = Problem.of(
            SERVICE_UNAVAILABLE,
            "The database could not be reached, so the request was not completed. Retry it, "
            "with the same Idempotency-Key if you sent one.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
            request_id=request_id_of(request),
        )
        return problem_response(problem, instance=request.path)


@web.middleware
async def observe_middleware(request: web.Request, handler):
    """Count and time each request by route template, and write one access-log line."""
    started = time.perf_counter()
    response = await handler(request)
    elapsed = time.perf_counter() - started
    route = _route_template(request)
    request.config_dict[METRICS_RECORDER].observe(request.method, route, response.status, elapsed)
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status,
        extra={
            "method": request.method,
            "route": route,
            "status": response.status,
            "duration_ms": round(elapsed * 1000, 2),
        },
    )
    return response
