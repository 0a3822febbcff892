"""`/docs`: Swagger UI 5 on the service's OpenAPI 3.1 document, with "Try it out" and the bearer token.

Served offline: the assets come from the `swagger-ui-bundle-v2` package (Swagger
UI's own distribution files), never from a CDN, and the page has no inline
script. The hand-rendered, script-free reference stays at `/docs/reference`.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib.resources import files

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from apikit.keys import SERVICE_INFO

CACHE = "public, max-age=86400"
_INIT = files("apikit").joinpath("static/docs-init.js")


@cache
def _asset(name: str) -> bytes:
    return (swagger_ui_path / name).read_bytes()


def page(title: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} — API</title>"
        "<link rel='stylesheet' href='/docs/swagger-ui.css'></head><body>"
        "<noscript>This page needs JavaScript; <a href='/docs/reference'>the reference</a> does not."
        "</noscript>"
        "<div id='swagger-ui'></div>"
        "<script src='/docs/swagger-ui.js'></script><script src='/docs/init.js'></script>"
        "</body></html>"
    )


async def swagger_page(request: web.Request) -> web.Response:
    """Interactive API page (Swagger UI): authorize with your bearer token, then try any operation."""
    return web.Response(text=page(request.config_dict[SERVICE_INFO]["title"]), content_type="text/html")


async def swagger_css(_request: web.Request) -> web.Response:
    """Swagger UI's style sheet, from the installed package."""
    return web.Response(
        body=_asset("swagger-ui.css"), content_type="text/css", headers={"Cache-Control": CACHE}
    )


async def swagger_js(_request: web.Request) -> web.Response:
    """Swagger UI's script bundle, from the installed package."""
    return web.Response(
        body=_asset("swagger-ui-bundle.js"),
        content_type="application/javascript",
        headers={"Cache-Control": CACHE},
    )


async def swagger_init(_request: web.Request) -> web.Response:
    """Starts Swagger UI on `/openapi.json`."""
    return web.Response(
        body=_INIT.read_bytes(), content_type="application/javascript", headers={"Cache-Control": CACHE}
    )
