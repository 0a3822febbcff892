"""The console sub-application: its routes, templates, static files and middlewares.

Middlewares, outermost first: errors become HTML pages (a 403 for a refused
form, the sign-in page for a missing session); the session is loaded and saved;
the guard checks who is signed in and the CSRF token.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import session_middleware

from apikit.errors import DomainError
from apikit.problems import Problem
from orders_service.console import views
from orders_service.console.forms import status_of
from orders_service.console.guard import Forbidden, SignInRequired, guard_middleware
from orders_service.console.keys import SESSION_STORAGE
from orders_service.console.sessions import DatabaseSessionStorage
from orders_service.console.templating import FILTERS, render
from orders_service.settings import OrdersSettings

log = logging.getLogger("orders_service.console")
HERE = Path(__file__).parent


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    return render("error.html", request, {"status": status, "message": message}, status=status)


@web.middleware
async def error_pages(request: web.Request, handler):
    """Refusals as pages a person can read; an ended session sends a GET back to sign in."""
    try:
        return await handler(request)
    except SignInRequired:
        if request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(f"/console/sign-in?next={quote(request.path_qs, safe='/')}") from None
        return _error_page(request, 403, "Your session has ended. Sign in again, then repeat what you did.")
    except Forbidden as refusal:
        return _error_page(request, 403, str(refusal))
    except Problem as problem:
        return _error_page(request, problem.status, problem.detail or "The request was refused.")
    except DomainError as error:
        return _error_page(request, status_of(error, request), error.detail)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_page(request, exc.status, exc.reason)


def create_console(settings: OrdersSettings) -> web.Application:
    storage = DatabaseSessionStorage(
        idle_seconds=settings.session_idle_seconds, secure=settings.secure_cookies
    )
    console = web.Application(middlewares=[error_pages, session_middleware(storage), guard_middleware])
    console[SESSION_STORAGE] = storage
    environment = aiohttp_jinja2.setup(
        console,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    environment.filters.update(FILTERS)
    routes = [
        web.get("/", views.home),
        web.get("/sign-in", views.show_sign_in),
        web.post("/sign-in", views.sign_in),
        web.post("/sign-out", views.sign_out),
        web.get("/users", views.list_users),
        web.get("/users/{user_id}", views.show_user),
        web.post("/users/{user_id}", views.change_user),
        web.post("/users/{user_id}/orders", views.place_order),
        web.get("/orders", views.list_orders),
        web.get("/orders/{order_id}", views.show_order),
        web.get("/orders/{order_id}/timeline", views.order_timeline),
        web.post("/orders/{order_id}/status", views.change_order_status),
        web.post("/orders/{order_id}/resend", views.resend_notification),
    ]
    console.add_routes(routes)
    console.router.add_static("/static", HERE / "static", name="static", append_version=True)
    return console
