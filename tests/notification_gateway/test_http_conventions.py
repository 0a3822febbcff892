"""The gateway speaks the same HTTP dialect as the orders service: spec, probes, metrics, logs."""

from __future__ import annotations

import json
import logging

from tests.notification_gateway.conftest import ORDERS, notify


async def test_openapi_lists_exactly_the_routes_served(client):
    spec = await (await client.get("/openapi.json")).json()
    documented = {(method, path) for path, methods in spec["paths"].items() for method in methods}
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.app.router.routes()
        if route.method != "HEAD"
    }

    assert documented == served
    assert spec["paths"]["/notify"]["post"]["responses"]["202"]["links"]["ReadNotification"]


async def test_metrics_show_notifications_latency_and_queue_depth(client):
    await notify(client)

    text = await (await client.get("/metrics")).text()

    for name in (
        "notifications_total",
        "notification_delivery_seconds",
        "provider_request_seconds",
        "notification_queue_depth",
        'http_requests_total{method="POST",route="/notify",status="202"} 1.0',
    ):
        assert name in text


async def test_logs_never_carry_addresses_or_tokens(client, capsys):
    from apikit.logs import configure_logging

    configure_logging("DEBUG")
    try:
        await notify(client, headers={"X-Request-ID": "trace-me"})
        logging.getLogger("notification_gateway.test").info(
            "sending to %s via %s", "ada@example.com", "+447451277972"
        )
    finally:
        logging.getLogger().handlers.clear()
        logging.getLogger().setLevel(logging.WARNING)

    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "trace-me" for line in lines)
    for secret in ("ada@example.com", "+447451277972", ORDERS["Authorization"].split()[1]):
        assert secret not in err
