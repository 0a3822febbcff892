"""Who may do what in the console: signed-in staff only, CSRF tokens on every form, admins to write.

Signed-in forms carry the session's CSRF token (synchronizer token). The sign-in
form, used before there is a session, carries a token that must equal a
SameSite=Strict cookie (double submit). A POST without the right token is a 403.
"""

from __future__ import annotations

import hmac
import time

from aiohttp import web
from aiohttp_session import get_session

from orders_service.console.keys import CSRF_TOKEN, STAFF
from orders_service.lifecycle import StaffRole
from orders_service.models import Staff

PUBLIC_PATHS = ("/console/sign-in", "/console/static/")
SIGN_IN_CSRF_COOKIE = "console_sign_in_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
TOUCH_EVERY_SECONDS = 60


class Forbidden(Exception):
    """The console refuses this request (403); the message says why, for the person reading it."""


class SignInRequired(Exception):
    """No signed-in staff member; GETs are sent to the sign-in page."""


def _same(presented: str | None, expected: str | None) -> bool:
    return bool(presented and expected) and hmac.compare_digest(presented.encode(), expected.encode())


async def presented_csrf(request: web.Request) -> str | None:
    if CSRF_HEADER in request.headers:
        return request.headers[CSRF_HEADER]
    form = await request.post()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def check_sign_in_csrf(request: web.Request) -> None:
    if not _same(await presented_csrf(request), request.cookies.get(SIGN_IN_CSRF_COOKIE)):
        raise Forbidden("The form is missing its security token. Reload the page and try again.")


def set_sign_in_csrf(response: web.StreamResponse, token: str, *, secure: bool) -> None:
    response.set_cookie(
        SIGN_IN_CSRF_COOKIE, token, path="/console/sign-in", httponly=True, samesite="Strict", secure=secure
    )


@web.middleware
async def guard_middleware(request: web.Request, handler):
    """Attach the signed-in staff member and their CSRF token; check the token on every POST."""
    if request.path.startswith(PUBLIC_PATHS):
        return await handler(request)
    session = await get_session(request)
    staff = await Staff.get_or_none(id=session["staff_id"], disabled=False) if "staff_id" in session else None
    if staff is None:
        if not session.new:
            session.invalidate()
        raise SignInRequired()
    if time.time() - session.get("seen", 0) > TOUCH_EVERY_SECONDS:
        session["seen"] = time.time()  # saving the session moves its idle deadline
    request[STAFF] = staff
    request[CSRF_TOKEN] = session["csrf"]
    if request.method not in ("GET", "HEAD") and not _same(await presented_csrf(request), session["csrf"]):
        raise Forbidden("The form is missing its security token. Reload the page and try again.")
    return await handler(request)


def require_admin(request: web.Request) -> Staff:
    staff = request[STAFF]
    if staff.role is not StaffRole.ADMIN:
        raise Forbidden("Only admins can do this; support staff can read everything but change nothing.")
    return staff


def actor_of(request: web.Request) -> str:
    """How a member of staff is named in `placed_by` and an order's changes."""
    return f"staff:{request[STAFF].email}"
