"""Tracing inside the orders service, with an in-memory exporter: the order's span, the outbox row's
`traceparent`, the relay's span and its POST /notify; trace ids in logs; tracing never blocks."""

from __future__ import annotations

import json
import logging

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from apikit.logs import JsonFormatter
from apikit.tracing import TracingSettings, configure_tracing, uninstrument
from orders_service.app import create_app
from orders_service.lifecycle import OutboxStatus
from orders_service.models import OutboxMessage
from tests.orders_service.conftest import place

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module")
def exporter():
    """The process's tracer provider can be set once; the aiohttp instrumentation is undone after."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        pytest.skip("another tracer provider is installed in this process")
    configure_tracing("orders-service", TracingSettings(), processor=SimpleSpanProcessor(_EXPORTER))
    yield _EXPORTER
    uninstrument()


@pytest.fixture
async def traced_client(exporter, aiohttp_client, orders_settings):
    exporter.clear()
    return await aiohttp_client(create_app(orders_settings))  # made after instrumenting: traced


def _by_name(exporter, name: str):
    [span] = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


async def test_the_order_the_outbox_row_and_the_relay_share_one_trace(
    exporter, traced_client, ada, make_relay
):
    await place(traced_client)
    [message] = await OutboxMessage.all()

    await _run_once_traced(make_relay())

    order_span = _by_name(exporter, "POST /orders")
    trace_id = format(order_span.context.trace_id, "032x")
    assert message.traceparent.startswith(f"00-{trace_id}-{format(order_span.context.span_id, '016x')}-")
    relay_span = _by_name(exporter, "OutboxRelay")
    assert relay_span.parent.span_id == order_span.context.span_id
    assert relay_span.kind is trace.SpanKind.CONSUMER
    [notify_call] = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is trace.SpanKind.CLIENT and s.parent and s.parent.span_id == relay_span.context.span_id
    ]
    assert notify_call.context.trace_id == order_span.context.trace_id
    url = notify_call.attributes.get("http.url") or notify_call.attributes.get("url.full")
    assert url.startswith("http://127.0.0.1:")
    assert "/notify" not in url  # origins only: paths may hold addresses


async def _run_once_traced(relay) -> None:
    for message in await relay.claim(relay.concurrency):
        await relay._traced(message)


async def test_a_traceparent_that_cannot_be_read_never_stops_the_relay(
    exporter, traced_client, ada, make_relay
):
    await place(traced_client)
    await OutboxMessage.all().update(traceparent="00-not-a-trace-context")

    await _run_once_traced(make_relay())

    assert (await OutboxMessage.first()).status is OutboxStatus.SENT


def test_logs_carry_the_trace_id(exporter):
    record = logging.LogRecord("orders_service", logging.INFO, __file__, 1, "placed", None, None)
    with trace.get_tracer("test").start_as_current_span("work") as span:
        line = json.loads(JsonFormatter().format(record))

    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in json.loads(JsonFormatter().format(record))  # outside a span: none
