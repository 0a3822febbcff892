"""Quiet hours hold every send, not only the first: a retry or a fallback hop that comes due within
the quiet hours of its channel waits until they end, using no attempt.

The shipped routing file keeps SMS quiet from 21:00 to 08:00 in the recipient's zone. The gateway
and the worker share one injected clock, which the test sets; nothing sleeps.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from notification_gateway import PermanentDeliveryError, RetryableDeliveryError
from notification_gateway.app import create_app
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.keys import FLOW, ROUTING
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.models import DeliveryAttempt, Notification
from notification_gateway.plugins import load_channels
from notification_gateway.policy import RetryPolicy
from notification_gateway.receipts import ReceiptContext
from notification_gateway.scheduling import QuietHours
from notification_gateway.settings import DEFAULT_ROUTING_FILE
from notification_gateway.status import NotificationStatus
from notification_gateway.suppression import SuppressionRules
from tests.notification_gateway.conftest import ADA, ORDERS, PigeonPlugin, notify_body

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
BIRD_AND_PHONE = ADA | {"loft": "loft-7"}


class SmsStub(PigeonPlugin):
    """A scripted channel named sms, so the shipped quiet hours for SMS apply to it."""

    def __init__(self) -> None:
        super().__init__()
        self.channel.name, self.channel.recipient_field = "sms", "phone_number"


@pytest.fixture
def gateway_settings(gateway_settings):
    """With the shipped routing, quiet hours and all: the clock here is the test's own."""
    return gateway_settings.model_copy(update={"routing_file": DEFAULT_ROUTING_FILE})


@pytest.fixture
def now() -> list[datetime]:
    """What the gateway and its worker take as now; a test sets it (in any zone)."""
    return [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]


@pytest.fixture
def clock(now):
    """`now`, in UTC as the real clock gives it."""
    return lambda: now[0].astimezone(UTC)


@pytest.fixture
def sms() -> SmsStub:
    return SmsStub()


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon, clock):
    app = create_app(gateway_settings, extra_plugins=[("pigeon", pigeon)], clock=clock)
    return await aiohttp_client(app)


@pytest.fixture
async def worker(client, pigeon, sms, clock, gateway_settings):
    channels = load_channels(frozenset(), [("pigeon", pigeon), ("sms-stub", sms)])
    async with aiohttp.ClientSession() as session:
        yield DeliveryWorker(
            channels=channels,
            session=session,
            policy=RetryPolicy(max_attempts=3, base_seconds=10, max_seconds=10),
            metrics=DeliveryMetrics(CollectorRegistry()),
            receipts=ReceiptContext(channels, SuppressionRules(b"test-key")),
            flow=client.app[FLOW],
            quiet=QuietHours(client.app[ROUTING].quiet_hours, gateway_settings.default_zone()),
            concurrency=8,
            lease_seconds=30,
            poll_seconds=0.05,
            clock=clock,
            rng=random.Random(7),
        )


class TopOfRange(random.Random):
    """Full jitter at its ceiling: every backoff is exactly its cap (10 s here)."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def _run_once(worker: DeliveryWorker) -> None:
    """Claim what is due and process each claimed row as the loop would, without the loop."""
    claimed = await worker.claim(worker.concurrency)
    await asyncio.gather(*(worker.process(notification) for notification in claimed))


async def _accepted(client, **overrides) -> str:
    response = await client.post("/notify", json=notify_body(**overrides), headers=ORDERS)
    assert response.status == 202, await response.text()
    return (await response.json())["id"]


async def _attempts(notification_id: str) -> list[tuple[str, str]]:
    attempts = await DeliveryAttempt.filter(notification_id=notification_id).order_by("number")
    return [(attempt.channel, attempt.outcome) for attempt in attempts]


async def test_a_retry_that_comes_due_in_quiet_hours_waits_for_their_end_in_the_recipients_zone(
    client, worker, sms, now
):
    worker.rng = TopOfRange()
    now[0] = datetime(2026, 12, 1, 20, 59, 55, tzinfo=NEW_YORK)  # 01:59 in London: New York's zone rules
    new_yorker = ADA | {"timezone": "America/New_York"}
    notification_id = await _accepted(client, channel="sms", recipient=new_yorker)
    sms.channel.script = [RetryableDeliveryError("provider answered 503", provider_status=503)]

    await _run_once(worker)  # fails before the quiet hours begin; the retry is due at 21:00:05
    retry_due = (await Notification.get(id=notification_id)).next_attempt_at
    now[0] = retry_due
    await _run_once(worker)  # due, but within the quiet hours: back to the queue, nothing sent
    held = await Notification.get(id=notification_id)
    now[0] = datetime(2026, 12, 2, 7, 59, 59, tzinfo=NEW_YORK)
    await _run_once(worker)  # not due yet
    early = len(sms.channel.sent)
    now[0] = datetime(2026, 12, 2, 8, 0, tzinfo=NEW_YORK)
    await _run_once(worker)

    assert retry_due == datetime(2026, 12, 1, 21, 0, 5, tzinfo=NEW_YORK)
    assert (held.status, held.next_attempt_at) == (
        NotificationStatus.QUEUED,
        datetime(2026, 12, 2, 8, 0, tzinfo=NEW_YORK),
    )
    assert (held.attempt_count, held.attempts_on_channel, held.lease_owner) == (1, 1, None)
    assert early == 0
    assert await _attempts(notification_id) == [("sms", "retryable"), ("sms", "sent")]
    assert (await Notification.get(id=notification_id)).status is NotificationStatus.SENT


async def test_a_fallback_hop_onto_a_quiet_channel_waits_for_its_quiet_hours_to_end(
    client, worker, pigeon, sms, now
):
    now[0] = datetime(2026, 12, 1, 23, 30, tzinfo=LONDON)  # pigeons keep no quiet hours; SMS does
    notification_id = await _accepted(client, channel="pigeon", recipient=BIRD_AND_PHONE, fallback=["sms"])
    pigeon.channel.script = [PermanentDeliveryError("provider answered 400", provider_status=400)]

    await _run_once(worker)  # the pigeon refuses: the notification moves on to SMS, due at once
    moved = await Notification.get(id=notification_id)
    await _run_once(worker)  # SMS is quiet until 08:00
    held = await Notification.get(id=notification_id)
    now[0] = datetime(2026, 12, 2, 8, 0, tzinfo=LONDON)
    await _run_once(worker)

    assert (moved.channel, moved.next_attempt_at) == ("sms", now[0] - timedelta(hours=8, minutes=30))
    assert (held.channel, held.status, held.next_attempt_at) == (
        "sms",
        NotificationStatus.QUEUED,
        datetime(2026, 12, 2, 8, 0, tzinfo=LONDON),
    )
    assert await _attempts(notification_id) == [("pigeon", "permanent"), ("sms", "sent")]
    assert [message.notification_id for message in sms.channel.sent] == [notification_id]


async def test_a_critical_retry_goes_within_quiet_hours(client, worker, sms, now):
    worker.rng = TopOfRange()
    now[0] = datetime(2026, 12, 1, 23, 30, tzinfo=LONDON)
    notification_id = await _accepted(client, channel="sms", critical=True)
    sms.channel.script = [RetryableDeliveryError("provider answered 503", provider_status=503)]

    await _run_once(worker)
    now[0] += timedelta(seconds=10)
    await _run_once(worker)

    assert await _attempts(notification_id) == [("sms", "retryable"), ("sms", "sent")]


async def test_a_retry_outside_quiet_hours_goes_when_due(client, worker, sms, now):
    worker.rng = TopOfRange()
    now[0] = datetime(2026, 12, 1, 20, 59, 40, tzinfo=LONDON)
    notification_id = await _accepted(client, channel="sms")
    sms.channel.script = [RetryableDeliveryError("provider answered 503", provider_status=503)]

    await _run_once(worker)
    now[0] += timedelta(seconds=10)  # 20:59:50, still before the quiet hours
    await _run_once(worker)

    assert await _attempts(notification_id) == [("sms", "retryable"), ("sms", "sent")]
