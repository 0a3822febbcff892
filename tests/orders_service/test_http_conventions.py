"""What every answer of the orders service has in common: problems, request ids, probes, metrics."""

from __future__ import annotations

import json
import logging

from aiohttp import web

from orders_service.app import create_app
from orders_service.settings import OrdersSettings
from tests.orders_service.conftest import ADMIN, order_body, place

PROBLEM = "application/problem+json"


async def test_an_unknown_path_is_a_404_problem(client):
    response = await client.get("/nothing-here")

    assert response.status == 404
    assert response.content_type == PROBLEM
    assert await response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Nothing is served at /nothing-here.",
        "instance": "/nothing-here",
    }


async def test_a_wrong_method_is_a_405_problem_with_allow(client):
    response = await client.delete("/orders", headers=ADMIN)

    assert response.status == 405
    assert response.content_type == PROBLEM
    assert response.headers["Allow"] == "GET,POST"
    problem = await response.json()
    assert problem["detail"] == "DELETE is not allowed here. Allowed: GET,POST."


async def test_an_unexpected_error_is_a_500_without_internals_and_logged_with_its_id(
    aiohttp_client, orders_settings, caplog
):
    async def explode(_request):
        raise RuntimeError("secret internals: SELECT * FROM users")

    app = create_app(orders_settings)
    app.router.add_get("/explode", explode)
    client = await aiohttp_client(app)

    with caplog.at_level(logging.ERROR, logger="apikit.errors"):
        response = await client.get("/explode", headers={"X-Request-ID": "req-42"})

    assert response.status == 500
    assert response.content_type == PROBLEM
    assert response.headers["X-Request-ID"] == "req-42"
    problem = await response.json()
    assert problem == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "Something went wrong on our side. Quote request id req-42.",
        "instance": "/explode",
        "request_id": "req-42",
    }
    [record] = [r for r in caplog.records if r.name == "apikit.errors"]
    assert record.exc_info[1].args == ("secret internals: SELECT * FROM users",)


async def test_a_request_id_is_echoed_or_made(client):
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    made = await client.get("/healthz")
    refused = await client.get("/healthz", headers={"X-Request-ID": "bad id\u00e9" * 20})

    assert echoed.headers["X-Request-ID"] == "abc-123"
    assert len(made.headers["X-Request-ID"]) == 32
    assert refused.headers["X-Request-ID"] != "bad id\u00e9" * 20
    errors = await client.get("/nothing", headers={"X-Request-ID": "abc-404"})
    assert errors.headers["X-Request-ID"] == "abc-404"


async def test_health_and_readiness(client):
    health = await client.get("/healthz")
    ready = await client.get("/readyz")

    assert await health.json() == {"status": "ok"}
    assert (health.status, ready.status) == (200, 200)
    assert (await ready.json())["status"] == "ready"


async def test_an_unreachable_database_is_503_with_retry_after(aiohttp_client):
    settings = OrdersSettings(
        APP_ENV="development", ORDERS_DATABASE_URL="postgres://postgres@127.0.0.1:9/absent"
    )
    client = await aiohttp_client(create_app(settings))

    ready = await client.get("/readyz")
    placed = await client.post(
        "/orders", json=order_body(), headers={"Authorization": "Bearer dev-admin-token"}
    )

    for response in (ready, placed):
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
    assert placed.content_type == PROBLEM
    assert (await placed.json())["type"] == "/problems/service-unavailable"
    database = (await ready.json())["checks"]["database"]
    assert database["status"] == "failing"
    assert database["reason"].startswith("the database does not answer")
    assert (await client.get("/healthz")).status == 200


async def test_metrics_count_requests_by_route_template(client, ada):
    await place(client)
    order_id = (await (await place(client)).json())["id"]
    await client.get(f"/orders/{order_id}", headers=ADMIN)

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert 'http_requests_total{method="POST",route="/orders",status="201"} 2.0' in text
    assert 'http_requests_total{method="GET",route="/orders/{order_id}",status="200"} 1.0' in text
    assert order_id not in text
    assert "http_request_duration_seconds_bucket" in text


async def test_problem_types_resolve_to_their_description(client):
    response = await client.get("/problems/unknown-user")

    assert response.status == 200
    kind = await response.json()
    assert kind["type"] == "/problems/unknown-user"
    assert kind["status"] == 422
    assert "existing user" in kind["description"]
    assert (await client.get("/problems/nope")).status == 404


async def test_the_reference_page_lists_every_operation(client):
    spec = await (await client.get("/openapi.json")).json()
    response = await client.get("/docs/reference")

    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    for methods in spec["paths"].values():
        for operation in methods.values():
            assert f"id='{operation['operationId']}'" in page


async def test_access_log_lines_are_json_with_the_request_id(client, capsys):
    from apikit.logs import configure_logging

    configure_logging("INFO")
    try:
        await client.get("/healthz", headers={"X-Request-ID": "log-me"})
    finally:
        logging.getLogger().handlers.clear()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    [access] = [line for line in lines if line["logger"] == "apikit.access"]
    assert access["request_id"] == "log-me"
    assert access["status"] == 200
    assert access["route"] == "/healthz"
    assert isinstance(access["duration_ms"], float)


def _served_operations(app: web.Application) -> set[tuple[str, str]]:
    """The API's operations; the console's HTML pages under /console are not part of it."""
    return {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and not route.resource.canonical.startswith("/console")
    }


async def test_openapi_lists_exactly_the_routes_served(client):
    spec = await (await client.get("/openapi.json")).json()

    documented = {(method, path) for path, methods in spec["paths"].items() for method in methods}

    assert documented == _served_operations(client.app)
    assert spec["openapi"].startswith("3.1")
    operation_ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_openapi_lists_the_service_operations_before_the_operational_ones(client):
    spec = await (await client.get("/openapi.json")).json()

    tags = [operation.get("tags", []) for methods in spec["paths"].values() for operation in methods.values()]
    first_ops = next(index for index, operation_tags in enumerate(tags) if "ops" in operation_tags)

    assert first_ops > 0
    assert all("ops" in operation_tags for operation_tags in tags[first_ops:])


async def test_openapi_documents_auth_and_problems_per_operation(client):
    spec = await (await client.get("/openapi.json")).json()

    place_order = spec["paths"]["/orders"]["post"]
    assert place_order["security"] == [{"bearer": []}]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "500"} <= set(place_order["responses"])
    assert place_order["responses"]["422"]["content"]["application/problem+json"]
    assert any(p["name"] == "Idempotency-Key" for p in place_order["parameters"])
    assert "security" not in spec["paths"]["/healthz"]["get"]


async def test_each_caller_is_rate_limited_with_retry_after(aiohttp_client, orders_settings):
    client = await aiohttp_client(create_app(orders_settings.model_copy(update={"rate_limit": "2/minute"})))

    statuses = [(await client.get("/users/", headers=ADMIN)).status for _ in range(3)]
    limited = await client.get("/users/", headers=ADMIN)

    assert statuses == [200, 200, 429]
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert (await limited.json())["type"] == "/problems/rate-limited"
    assert (await client.get("/healthz")).status == 200  # probes are not limited
