"""Operational endpoints every service serves: probes, metrics, the contract and its docs."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from apikit import swagger_ui
from apikit.docs_page import render_docs
from apikit.endpoints import Endpoint, Response
from apikit.keys import ENDPOINTS, METRICS_RECORDER, PROBLEM_TYPES, READINESS, SERVICE_INFO
from apikit.openapi import openapi_document
from apikit.readiness import ReadinessReport, assess


class Health(BaseModel):
    status: str


class ProblemTypeDoc(BaseModel):
    type: str
    title: str
    status: int
    description: str


async def healthz(_request: web.Request) -> web.Response:
    """Alive: the process answers. Says nothing about its dependencies."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready: each dependency (the database, and what the service adds) with its state and reason.

    503 while a required one fails; a failing optional one is reported and leaves the service ready.
    """
    report = await assess(request.config_dict[READINESS])
    if report.status == "ready":
        return web.json_response(report.model_dump(mode="json"))
    return web.json_response(report.model_dump(mode="json"), status=503, headers={"Retry-After": "5"})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's metrics."""
    body = generate_latest(request.config_dict[METRICS_RECORDER].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def _document(request: web.Request) -> dict:
    """The service's own operations first, then these operational ones: a reader of `/docs` comes
    for the API, and Swagger UI lists tags in the order they first appear."""
    info = request.config_dict[SERVICE_INFO]
    endpoints = sorted(request.config_dict[ENDPOINTS], key=lambda endpoint: "ops" in endpoint.tags)
    return openapi_document(
        title=info["title"],
        version=info["version"],
        description=info["description"],
        endpoints=endpoints,
    )


async def openapi_json(request: web.Request) -> web.Response:
    """This service's OpenAPI 3.1 document, built from its route table."""
    return web.json_response(_document(request))


async def docs_reference(request: web.Request) -> web.Response:
    """Human-readable API reference, without scripts."""
    return web.Response(text=render_docs(_document(request)), content_type="text/html")


async def problem_type(request: web.Request) -> web.Response:
    """What a problem `type` URI means."""
    slug = request.match_info["slug"]
    kind = request.config_dict[PROBLEM_TYPES].get(slug)
    if kind is None:
        raise web.HTTPNotFound()
    return web.json_response(
        {"type": kind.uri, "title": kind.title, "status": kind.status, "description": kind.description}
    )


OPS_ENDPOINTS = [
    Endpoint("GET", "/healthz", healthz, "Liveness probe", {200: Response("Alive", Health)}, tags=["ops"]),
    Endpoint(
        "GET",
        "/readyz",
        readyz,
        "Readiness probe",
        {
            200: Response("Ready: every required dependency answers", ReadinessReport),
            503: Response(
                "Not ready: a required dependency fails", ReadinessReport, headers={"Retry-After": "Seconds"}
            ),
        },
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics",
        {200: Response("Metrics", media_type="text/plain")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/openapi.json",
        openapi_json,
        "OpenAPI document",
        {200: Response("The document")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/docs",
        swagger_ui.swagger_page,
        "Interactive API page",
        {200: Response("HTML", media_type="text/html")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/docs/reference",
        docs_reference,
        "API reference",
        {200: Response("HTML", media_type="text/html")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/docs/swagger-ui.css",
        swagger_ui.swagger_css,
        "API page style sheet",
        {200: Response("CSS", media_type="text/css")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/docs/swagger-ui.js",
        swagger_ui.swagger_js,
        "API page script",
        {200: Response("JavaScript", media_type="application/javascript")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/docs/init.js",
        swagger_ui.swagger_init,
        "API page start-up script",
        {200: Response("JavaScript", media_type="application/javascript")},
        tags=["ops"],
    ),
    Endpoint(
        "GET",
        "/problems/{slug}",
        problem_type,
        "Problem type description",
        {200: Response("The problem type", ProblemTypeDoc)},
        problems=[404],
        tags=["ops"],
    ),
]
