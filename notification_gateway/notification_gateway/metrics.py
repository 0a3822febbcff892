"""Gateway metrics: notifications by channel and status, delivery latency, queue depth, flow control."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from notification_gateway.status import CircuitState

if TYPE_CHECKING:
    from notification_gateway.models import ChannelState

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600)


class DeliveryMetrics:
    """Registered on the application's registry, so `/metrics` shows them beside the HTTP ones."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "notifications_total",
            "Notifications that reached a final status (delivered, failed), by channel.",
            ["channel", "status"],
            registry=registry,
        )
        self.attempts = Counter(
            "delivery_attempts_total",
            "Provider calls by channel and outcome.",
            ["channel", "outcome"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "provider_request_seconds", "Time a channel's provider call took.", ["channel"], registry=registry
        )
        self.delivery_seconds = Histogram(
            "notification_delivery_seconds",
            "Time from acceptance to delivery.",
            ["channel"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_depth = Gauge(
            "notification_queue_depth", "Notifications queued or being sent.", registry=registry
        )


class FlowMetrics:
    """Each channel's circuit and pause, as every process sees them in the shared table."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.circuit = Gauge(
            "channel_circuit_state",
            "1 for the channel's circuit state (closed, open, half_open), 0 for the others.",
            ["channel", "state"],
            registry=registry,
        )
        self.paused_seconds = Gauge(
            "channel_paused_seconds",
            "Seconds left of a pause a provider asked for (Retry-After); 0 when not paused.",
            ["channel"],
            registry=registry,
        )
        self.failures = Gauge(
            "channel_breaker_failures",
            "Retryable failures in the breaker's current window.",
            ["channel"],
            registry=registry,
        )
        self.transitions = Counter(
            "channel_circuit_transitions_total",
            "Circuit state changes this process made, by channel and new state.",
            ["channel", "state"],
            registry=registry,
        )

    def show(self, states: Iterable[ChannelState], now: datetime) -> None:
        for state in states:
            for circuit in CircuitState:
                self.circuit.labels(state.channel, circuit.value).set(1 if state.circuit is circuit else 0)
            left = (state.paused_until - now).total_seconds() if state.paused_until else 0.0
            self.paused_seconds.labels(state.channel).set(max(0.0, left))
            self.failures.labels(state.channel).set(state.failures)
