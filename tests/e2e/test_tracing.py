"""One order, one trace: from POST /orders through the outbox, the gateway's queue, the provider call and
the status callback back, across the real processes.

Both services export over OTLP/HTTP (the standard OTEL_EXPORTER_OTLP_TRACES_ENDPOINT turns it on) to
a collector this test runs, which keeps every span in memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from tests.e2e.conftest import ADMIN, SHIPPING, System, wait_until
from tests.processes import free_port

pytestmark = pytest.mark.slow

SERVER, CLIENT, CONSUMER = (
    SpanProto.SPAN_KIND_SERVER,
    SpanProto.SPAN_KIND_CLIENT,
    SpanProto.SPAN_KIND_CONSUMER,
)


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict


class Collector:
    """An OTLP/HTTP trace receiver that keeps every span in memory."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    async def receive(self, request: web.Request) -> web.Response:
        export = ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            service = next(
                a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"
            )
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.spans.append(
                        Span(
                            service=service,
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            attributes={a.key: a.value.string_value for a in span.attributes},
                        )
                    )
        return web.Response(
            body=b"", content_type="application/x-protobuf"
        )  # an empty ExportTraceServiceResponse

    def one(self, service: str, name: str, kind: int, trace_id: str) -> Span:
        found = [
            s
            for s in self.spans
            if (s.service, s.name, s.kind, s.trace_id) == (service, name, kind, trace_id)
        ]
        assert len(found) == 1, (service, name, kind, [(s.service, s.name, s.kind) for s in self.spans])
        return found[0]


@pytest.fixture
async def collector():
    collector = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", collector.receive)
    runner = web.AppRunner(app)
    await runner.setup()
    collector.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", collector.port).start()
    yield collector
    await runner.cleanup()


@pytest.fixture
async def traced_system(unstarted_system: System, collector):
    exporting = {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{collector.port}/v1/traces",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    unstarted_system.gateway.env |= exporting
    unstarted_system.orders.env |= exporting
    await asyncio.to_thread(unstarted_system.start)  # the collector keeps answering meanwhile
    yield unstarted_system
    await asyncio.to_thread(unstarted_system.stop)


async def test_one_order_is_one_trace_with_the_expected_parent_links(http, traced_system, collector):
    system = traced_system
    body = {"user_id": "u_ada", "sequencing_type": "targeted-sequencing", "shipping_info": SHIPPING}
    async with http.post(f"{system.orders.url}/orders", json=body, headers=ADMIN) as response:
        assert response.status == 201
        order = await response.json()

    def spans_of_order() -> list[Span]:
        roots = [s for s in collector.spans if s.name == "POST /orders" and s.kind == SERVER]
        return [s for s in collector.spans if roots and s.trace_id == roots[0].trace_id]

    async def called_back() -> bool:
        # Each process exports on its own schedule: the sender's span may come after the receiver's.
        spans = spans_of_order()
        received = any(s.name == "POST /webhooks/notifications" and s.kind == SERVER for s in spans)
        sent = any(s.name == "CallbackSender" and s.kind == CONSUMER for s in spans)
        return received and sent

    await wait_until(called_back, "the status callback's spans, sent and received")

    [root] = [s for s in collector.spans if s.name == "POST /orders"]
    trace_id = root.trace_id
    orders, gateway = "orders-service", "notification-gateway"
    relay = collector.one(orders, "OutboxRelay", CONSUMER, trace_id)
    notify_call = collector.one(orders, "POST", CLIENT, trace_id)
    notify = collector.one(gateway, "POST /notify", SERVER, trace_id)
    delivery = collector.one(gateway, "DeliveryWorker", CONSUMER, trace_id)
    provider_calls = [s for s in spans_of_order() if s.service == gateway and s.kind == CLIENT]
    callback_sender = collector.one(gateway, "CallbackSender", CONSUMER, trace_id)
    callback = collector.one(orders, "POST /webhooks/notifications", SERVER, trace_id)

    assert root.parent_id == ""  # the order starts the trace
    assert relay.parent_id == root.span_id  # through the outbox row's traceparent
    assert notify_call.parent_id == relay.span_id
    assert notify.parent_id == notify_call.span_id  # the traceparent header
    assert delivery.parent_id == notify.span_id  # through the queued notification's traceparent
    provider_call, callback_call = sorted(provider_calls, key=lambda s: s.parent_id != delivery.span_id)
    assert provider_call.parent_id == delivery.span_id  # the plugin's provider call
    assert callback_sender.parent_id == delivery.span_id  # through the callback row's traceparent
    assert callback_call.parent_id == callback_sender.span_id
    assert callback.parent_id == callback_call.span_id
    assert relay.attributes["row"].startswith("obx_")
    assert delivery.attributes["row"].startswith("ntf_")

    async def delivered() -> bool:
        # The callbacks said "sent", then "delivered" once the sandbox's receipt came in.
        async with http.get(f"{system.orders.url}/orders/{order['id']}", headers=ADMIN) as response:
            return (await response.json())["notification"]["status"] == "delivered"

    await wait_until(delivered, "the order's notification to be delivered, after the provider's receipt")
