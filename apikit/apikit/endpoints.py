"""The route table: each endpoint declared once, with what the OpenAPI document needs.

The router and `/openapi.json` are both built from the same `Endpoint` list, so
the document cannot drift from the handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import wraps

from aiohttp import web
from pydantic import BaseModel

from apikit.auth import authorize
from apikit.keys import ENDPOINTS, PRINCIPAL, RATE_LIMITER, REALM, TOKENS
from apikit.problems import RATE_LIMITED, Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Response:
    """One documented answer: a JSON model, or a media type with a plain schema."""

    description: str
    model: type[BaseModel] | None = None
    media_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description
    links: Mapping[str, Link] = field(default_factory=dict)  # name -> link


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: where a value in this answer can be used next (e.g. the new id)."""

    operation_id: str
    parameters: Mapping[str, str]  # parameter -> runtime expression, e.g. "$response.body#/id"


@dataclass(frozen=True)
class Endpoint:
    """An HTTP operation: the handler plus everything its contract says."""

    method: str
    path: str
    handler: Handler
    summary: str
    responses: Mapping[int, Response]
    roles: frozenset[str] | None = None  # None: no token needed
    body: type[BaseModel] | None = None
    body_media_types: Sequence[str] = ("application/json",)
    query: type[BaseModel] | None = None
    problems: Sequence[int] = ()
    idempotency_key: bool = False
    tags: Sequence[str] = ()
    name: str | None = None  # operation id, when one handler serves two paths

    @property
    def operation_id(self) -> str:
        return self.name or self.handler.__name__


def _guarded(handler: Handler, roles: frozenset[str]) -> Handler:
    """Authenticate, authorize, then count the call against the caller's rate limit."""

    @wraps(handler)
    async def guarded(request: web.Request) -> web.StreamResponse:
        app = request.config_dict
        principal = authorize(request, app[TOKENS], roles, app[REALM])
        request[PRINCIPAL] = principal
        limiter = app.get(RATE_LIMITER)
        if limiter is not None and (wait := limiter.check(principal.name)) is not None:
            raise Problem.of(
                RATE_LIMITED,
                f"This caller is limited to {limiter.spec}; retry in {wait}s.",
                headers={"Retry-After": str(wait)},
            )
        return await handler(request)

    return guarded


def add_endpoints(app: web.Application, endpoints: Sequence[Endpoint]) -> None:
    """Register each endpoint with the router (behind its role check) and remember it."""
    for endpoint in endpoints:
        handler = endpoint.handler
        if endpoint.roles is not None:
            handler = _guarded(handler, endpoint.roles)
        app.router.add_route(endpoint.method, endpoint.path, handler, name=endpoint.operation_id)
    app[ENDPOINTS] = [*app.get(ENDPOINTS, []), *endpoints]
