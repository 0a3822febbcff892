"""Every domain error of both services answers as its problem type; an unmapped one is a 500 problem;
every problem type either service can answer with resolves to its description.

Errors and problem types are found, not listed: every module of the services is imported,
`DomainError.__subclasses__()` walked and every module-level `ProblemType` collected, so a new
one is checked the day it is written.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from collections.abc import Mapping

import pytest
from aiohttp import web

import apikit
import notification_gateway
import orders_service
from apikit.errors import DomainError
from apikit.problems import PROBLEM_CONTENT_TYPE, ProblemType
from notification_gateway.app import create_app as create_gateway
from notification_gateway.db import gateway_tortoise_config
from notification_gateway.settings import GatewaySettings
from orders_service.app import create_app as create_orders
from orders_service.db import orders_tortoise_config
from orders_service.settings import OrdersSettings

SERVICES = ("orders_service", "notification_gateway")
TOKEN = "domain-errors-test-token-0123456789"


def _import_everything() -> None:
    for package in (apikit, orders_service, notification_gateway):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):
                importlib.import_module(module.name)


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _domain_errors() -> list[tuple[str, type[DomainError]]]:
    """(service, error class) for every DomainError subclass the services and apikit define."""
    _import_everything()
    pairs = []
    for error in _subclasses(DomainError):
        owner = error.__module__.split(".")[0]
        services = SERVICES if owner == "apikit" else (owner,) if owner in SERVICES else ()
        pairs += [(service, error) for service in services]
    return sorted(set(pairs), key=lambda pair: (pair[0], pair[1].__qualname__))


DOMAIN_ERRORS = _domain_errors()


def _problem_types() -> list[tuple[str, ProblemType]]:
    """(service, problem type) for every ProblemType apikit or a service holds at module level,
    alone or as the values of a mapping (such as a service's domain error table)."""
    _import_everything()
    pairs = []
    for name, module in list(sys.modules.items()):
        owner = name.split(".")[0]
        services = SERVICES if owner == "apikit" else (owner,) if owner in SERVICES else ()
        for value in vars(module).values():
            kinds = value.values() if isinstance(value, Mapping) else [value]
            pairs += [(s, kind) for kind in kinds if isinstance(kind, ProblemType) for s in services]
    return sorted(set(pairs), key=lambda pair: (pair[0], pair[1].slug))


PROBLEM_TYPES = _problem_types()


class NobodyMapsThis(DomainError):
    """A domain error no service has a problem type for: a bug, which must still answer properly."""


@pytest.fixture
def raising(database_server, tmp_path, monkeypatch, aiohttp_client):
    """`raising(service, error)`: a client of that service's real app, whose `/raise` raises `error`."""
    orders_database = database_server.database_url("orders", orders_tortoise_config, tmp_path)
    gateway_database = database_server.database_url("gateway", gateway_tortoise_config, tmp_path)

    async def client_for(service: str, error: DomainError):
        if service == "orders_service":
            app = create_orders(
                OrdersSettings(
                    APP_ENV="production",
                    ORDERS_DATABASE_URL=orders_database,
                    ADMIN_TOKEN=TOKEN,
                    SUPPORT_TOKEN=TOKEN + "-support",
                    ORDERS_GATEWAY_URL="http://127.0.0.1:9",
                    ORDERS_GATEWAY_TOKEN=TOKEN,
                    ORDERS_CALLBACK_URL="",
                    ORDERS_RELAY_ENABLED=False,
                )
            )
        else:
            for variable, value in {
                "EMAIL_API_URL": "http://127.0.0.1:9/email",
                "EMAIL_API_TOKEN": "unused",
                "SMS_API_URL": "http://127.0.0.1:9/sms",
                "SMS_API_TOKEN": "unused",
            }.items():
                monkeypatch.setenv(variable, value)
            app = create_gateway(
                GatewaySettings(
                    APP_ENV="production",
                    GATEWAY_DATABASE_URL=gateway_database,
                    GATEWAY_TOKEN=TOKEN,
                    GATEWAY_SUPPRESSION_KEY="test-suppression-key-0123456789",
                    GATEWAY_PLUGINS="email,sms",
                    GATEWAY_WORKERS_ENABLED=False,
                )
            )

        async def fail(_request: web.Request) -> web.Response:
            raise error

        app.router.add_get("/raise", fail)
        return await aiohttp_client(app)

    return client_for


def test_the_walk_finds_the_errors_of_both_services():
    names = {(service, error.__name__) for service, error in DOMAIN_ERRORS}

    assert ("orders_service", "UnknownUser") in names
    assert ("notification_gateway", "RecipientCapReached") in names


@pytest.mark.parametrize(
    ("service", "error_class"), DOMAIN_ERRORS, ids=[f"{s}.{e.__name__}" for s, e in DOMAIN_ERRORS]
)
async def test_each_domain_error_answers_as_its_documented_problem(raising, service, error_class):
    client = await raising(
        service, error_class("What went wrong, in words.", pointer="#/field", retry_after=7)
    )

    response = await client.get("/raise")
    problem = await response.json()

    assert response.content_type == PROBLEM_CONTENT_TYPE
    assert 400 <= response.status < 500 or response.status == 503, f"{error_class.__name__} is not mapped"
    assert problem["status"] == response.status
    assert problem["detail"] == "What went wrong, in words."
    assert problem["errors"] == [{"detail": "What went wrong, in words.", "pointer": "#/field"}]
    assert response.headers["Retry-After"] == "7"
    described = await client.get(problem["type"])
    assert described.status == 200, f"{problem['type']} does not resolve"
    assert (await described.json())["status"] == response.status


@pytest.mark.parametrize("service", SERVICES)
async def test_a_subclass_answers_as_its_nearest_mapped_ancestor(raising, service):
    parent = next(error for owner, error in DOMAIN_ERRORS if owner == service)
    child = type("MoreSpecific", (parent,), {})
    parent_problem = await (await (await raising(service, parent("x"))).get("/raise")).json()

    response = await (await raising(service, child("x"))).get("/raise")

    assert (await response.json())["type"] == parent_problem["type"]
    assert response.status == parent_problem["status"]


@pytest.mark.parametrize("service", SERVICES)
async def test_an_unmapped_domain_error_is_a_500_problem_with_the_request_id(raising, service):
    client = await raising(service, NobodyMapsThis("internal words that must not leak"))

    response = await client.get("/raise", headers={"X-Request-ID": "find-me-in-the-log"})

    assert response.status == 500
    assert response.content_type == PROBLEM_CONTENT_TYPE
    problem = await response.json()
    assert problem["request_id"] == "find-me-in-the-log"
    assert "find-me-in-the-log" in problem["detail"]
    assert "internal words" not in await response.text()


def test_the_search_finds_common_and_domain_problem_types():
    slugs = {(service, kind.slug) for service, kind in PROBLEM_TYPES}

    assert {("orders_service", "rate-limited"), ("notification_gateway", "rate-limited")} <= slugs
    assert ("orders_service", "unknown-user") in slugs


@pytest.mark.parametrize(("service", "kind"), PROBLEM_TYPES, ids=[f"{s}.{k.slug}" for s, k in PROBLEM_TYPES])
async def test_every_problem_type_resolves_to_its_description(raising, service, kind):
    client = await raising(service, NobodyMapsThis("unused"))

    response = await client.get(kind.uri)

    assert response.status == 200, f"{kind.uri} is not served by {service}"
    described = await response.json()
    assert (described["type"], described["status"], described["title"]) == (kind.uri, kind.status, kind.title)
