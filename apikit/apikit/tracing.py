"""OpenTelemetry tracing: one trace per piece of work, across both services and their queues.

`configure_tracing` installs the process's tracer provider and the maintained
aiohttp instrumentations: every request a service answers gets a SERVER span
(continuing the caller's `traceparent`), every request it makes a CLIENT span
(sending its own `traceparent`). Work that waits in a table (an outbox row, a
queued notification, an owed callback) keeps the `traceparent` of the moment
it was written (`current_traceparent`), and the queue worker that takes it up
continues that trace (`continued_span`).

Tracing is on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the exporter reads the other
standard variables itself. Unset, no span is made at all: spans nobody reads
would cost a sixth of a request's CPU. `OTEL_SDK_DISABLED=true` turns it off
even with an endpoint. Tracing
is optional: every helper here swallows its own failures, so it can never stop
an order or a notification.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings
from yarl import URL

log = logging.getLogger("apikit.tracing")

TRACEPARENT = "traceparent"
# Probes and scrapes are not worth a trace each.
EXCLUDED_URLS = "healthz,readyz,metrics"

_tracer = trace.get_tracer("apikit")


class TracingSettings(BaseSettings):
    """The standard OpenTelemetry variables the services honour (the SDK reads the rest itself)."""

    otel_sdk_disabled: bool = Field(False, alias="OTEL_SDK_DISABLED")
    otel_service_name: str | None = Field(None, alias="OTEL_SERVICE_NAME")
    otel_exporter_otlp_endpoint: HttpUrl | None = Field(None, alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    otel_exporter_otlp_traces_endpoint: HttpUrl | None = Field(
        None, alias="OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )

    @property
    def exports_traces(self) -> bool:
        return not self.otel_sdk_disabled and bool(
            self.otel_exporter_otlp_endpoint or self.otel_exporter_otlp_traces_endpoint
        )


def _origin_only(url: URL) -> str:
    """Client span URLs keep scheme, host and port: paths may hold addresses (a push topic)."""
    return str(url.origin())


def configure_tracing(
    service_name: str, settings: TracingSettings, *, processor: SpanProcessor | None = None
) -> TracerProvider | None:
    """Install tracing for this process, before any application or client session is made.

    `processor` (tests: an in-memory exporter) replaces the OTLP export."""
    if processor is None and not settings.exports_traces:
        return None
    os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", EXCLUDED_URLS)
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name or service_name})
    )
    if processor is not None:
        provider.add_span_processor(processor)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    with warnings.catch_warnings():
        # The instrumentation subclasses web.Application, which aiohttp discourages, harmlessly.
        warnings.filterwarnings("ignore", "Inheritance class _InstrumentedApplication", DeprecationWarning)
        AioHttpServerInstrumentor().instrument(tracer_provider=provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=provider, url_filter=_origin_only)
    return provider


def uninstrument() -> None:
    """Undo the aiohttp instrumentation (tests)."""
    AioHttpServerInstrumentor().uninstrument()
    AioHttpClientInstrumentor().uninstrument()


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, to store with work that waits in a table."""
    try:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        return carrier.get(TRACEPARENT)
    except Exception:  # optional never blocks essential
        log.debug("no traceparent", exc_info=True)
        return None


@contextmanager
def continued_span(name: str, traceparent: str | None, **attributes: str) -> Iterator[None]:
    """A CONSUMER span for work taken from a table, in the trace its `traceparent` names (a new
    trace if it has none or it cannot be read)."""
    try:
        parent = propagate.extract({TRACEPARENT: traceparent}) if traceparent else otel_context.Context()
        span = _tracer.start_span(name, context=parent, kind=trace.SpanKind.CONSUMER, attributes=attributes)
    except Exception:
        log.debug("cannot start a span", exc_info=True)
        yield
        return
    with trace.use_span(span, end_on_exit=True):
        yield


def log_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the current span, for log lines; empty outside a span."""
    try:
        context = trace.get_current_span().get_span_context()
    except Exception:
        return {}
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
