"""Gateway metrics: notifications by channel and status, delivery latency, queue depth."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
