"""The application factory: `create_app(settings)`, no module-level app."""

from __future__ import annotations

from aiohttp import web

from apikit.application import new_application
from apikit.database import database_ctx, ping
from apikit.endpoints import add_endpoints
from apikit.idempotency import IdempotencyStore
from apikit.problems import ProblemType
from orders_service import orders, users
from orders_service.db import orders_tortoise_config
from orders_service.keys import IDEMPOTENCY, SETTINGS
from orders_service.models import IdempotencyRecord
from orders_service.routes import ENDPOINTS
from orders_service.settings import OrdersSettings

VERSION = "0.1.0"

DOMAIN_ERRORS = {
    orders.UnknownUser: ProblemType(
        "unknown-user",
        "The order names a user who does not exist",
        422,
        "`user_id` must be the id of an existing user. 422, not 404: the URL is fine, the body is not.",
    ),
    orders.OrderNotFound: ProblemType("order-not-found", "No such order", 404, "No order has this id."),
    users.UserNotFound: ProblemType("user-not-found", "No such user", 404, "No user has this id."),
    orders.IllegalTransition: ProblemType(
        "illegal-transition",
        "The order cannot move to that status",
        409,
        "The lifecycle does not allow this change from the order's current status.",
    ),
}


def create_app(settings: OrdersSettings) -> web.Application:
    app = new_application(
        title="DNA kit orders",
        version=VERSION,
        description="Admin staff place DNA kit orders for existing users; each user is told by "
        "SMS or e-mail that their order was placed.",
        realm="orders",
        tokens=settings.token_registry(),
        max_body_bytes=settings.max_body_bytes,
        readiness=ping,
        domain_errors=DOMAIN_ERRORS,
        rate_limit=settings.rate_limit,
    )
    app[SETTINGS] = settings
    app[IDEMPOTENCY] = IdempotencyStore(IdempotencyRecord)
    app.cleanup_ctx.append(database_ctx(orders_tortoise_config(settings.database_url)))
    add_endpoints(app, ENDPOINTS)
    return app
