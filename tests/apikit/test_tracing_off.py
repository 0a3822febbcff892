"""Without an OTLP endpoint the services make no spans: no tracer provider, no instrumentation."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor

from apikit.tracing import TracingSettings, configure_tracing


def _state() -> tuple:
    return (
        trace.get_tracer_provider(),
        AioHttpServerInstrumentor().is_instrumented_by_opentelemetry,
        AioHttpClientInstrumentor().is_instrumented_by_opentelemetry,
    )


def test_without_an_endpoint_tracing_installs_nothing(monkeypatch):
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    before = _state()

    assert configure_tracing("orders-service", TracingSettings()) is None
    assert _state() == before


def test_disabled_tracing_installs_nothing_even_with_an_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318/v1/traces")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    before = _state()

    settings = TracingSettings()
    assert settings.otel_exporter_otlp_traces_endpoint is not None
    assert configure_tracing("notification-gateway", settings) is None
    assert _state() == before
