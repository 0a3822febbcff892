"""The gateway speaks the same HTTP dialect as the orders service: spec, probes, metrics, logs."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from notification_gateway import RetryableDeliveryError
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.keys import CHANNELS, DELIVERY_METRICS, FLOW, RECEIPTS
from notification_gateway.policy import RetryPolicy
from tests.notification_gateway.conftest import ORDERS, notify, notify_body


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


def _samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_metrics_count_deliveries_attempts_latency_and_queue_depth(client, pigeon):
    pigeon.channel.script = [RetryableDeliveryError("provider answered 503", provider_status=503)]
    await notify(
        client, notify_body(recipient={"id": "u_b", "name": "B", "loft": "loft-7"}, channel="pigeon")
    )
    now = [datetime.now(UTC) + timedelta(seconds=1)]
    async with aiohttp.ClientSession() as session:
        worker = DeliveryWorker(
            channels=client.app[CHANNELS],
            session=session,
            policy=RetryPolicy(max_attempts=3, base_seconds=1, max_seconds=1),
            metrics=client.app[DELIVERY_METRICS],
            receipts=client.app[RECEIPTS],
            flow=client.app[FLOW],
            concurrency=1,
            lease_seconds=30,
            poll_seconds=1,
            clock=lambda: now[0],
        )
        await worker.before_claim()
        queued = _samples(await (await client.get("/metrics")).text())
        for _ in range(2):  # a retryable failure, then, once its backoff has passed, the delivery
            for notification in await worker.claim(1):
                await worker.deliver(notification)
            now[0] += timedelta(seconds=2)

    counted = _samples(await (await client.get("/metrics")).text())

    on_pigeon = frozenset({("channel", "pigeon")})
    assert queued[("notification_queue_depth", frozenset())] == 1
    assert counted[("delivery_attempts_total", on_pigeon | {("outcome", "retryable")})] == 1
    assert counted[("delivery_attempts_total", on_pigeon | {("outcome", "sent")})] == 1
    assert counted[("notifications_total", on_pigeon | {("status", "sent")})] == 1
    assert ("notifications_total", on_pigeon | {("status", "failed")}) not in counted
    assert counted[("provider_request_seconds_count", on_pigeon)] == 2
    assert counted[("notification_delivery_seconds_count", on_pigeon)] == 1
    assert counted[("notification_delivery_seconds_sum", on_pigeon)] > 0
    notify_202 = frozenset({("method", "POST"), ("route", "/notify"), ("status", "202")})
    assert counted[("http_requests_total", notify_202)] == 1


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
