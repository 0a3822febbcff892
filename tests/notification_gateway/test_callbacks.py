"""Status callbacks: allowed origins only, signed per Standard Webhooks, sent until accepted."""

from __future__ import annotations

import random
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook

from notification_gateway import PermanentDeliveryError
from notification_gateway.app import create_app
from notification_gateway.callbacks import CallbackPolicy, CallbackSender
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.keys import FLOW
from notification_gateway.metrics import DeliveryMetrics
from notification_gateway.models import Callback, Notification
from notification_gateway.plugins import load_channels
from notification_gateway.policy import RetryPolicy
from notification_gateway.receipts import ReceiptContext
from notification_gateway.status import CallbackStatus
from notification_gateway.suppression import SuppressionRules
from tests.notification_gateway.conftest import MARKETING, ORDERS, notify, notify_body
from tests.notification_gateway.test_delivery import BIRD, Clock

SECRET = "whsec_b3JkZXJzLWNhbGxiYWNrLXNlY3JldC0wMTIz"


class Receiver:
    """Stands in for a calling service's webhook endpoint; answers with scripted statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.answers: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.answers.pop(0) if self.answers else 204)


@pytest.fixture
async def receiver(aiohttp_server):
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    receiver.server = await aiohttp_server(app)
    receiver.url = str(receiver.server.make_url("/hooks"))
    return receiver


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon, receiver):
    settings = gateway_settings.model_copy(
        update={
            "callback_origins": f"http://127.0.0.1:{receiver.server.port}",
            "webhook_secrets": SecretStr(f"orders:{SECRET}"),
        }
    )
    return await aiohttp_client(create_app(settings, extra_plugins=[("pigeon", pigeon)]))


@pytest.fixture
async def workers(client, pigeon, receiver):
    clock = Clock()
    policy = CallbackPolicy(frozenset({f"http://127.0.0.1:{receiver.server.port}"}), {"orders": SECRET})
    async with aiohttp.ClientSession() as session:
        channels = load_channels(frozenset(), [("pigeon", pigeon)])
        delivery = DeliveryWorker(
            channels=channels,
            receipts=ReceiptContext(channels, SuppressionRules(b"test-key")),
            session=session,
            policy=RetryPolicy(max_attempts=1),
            metrics=DeliveryMetrics(CollectorRegistry()),
            flow=client.app[FLOW],
            concurrency=4,
            lease_seconds=30,
            poll_seconds=0.05,
            clock=clock,
        )
        sender = CallbackSender(
            session=session,
            policy=policy,
            backoff=RetryPolicy(base_seconds=1, max_seconds=10),
            concurrency=4,
            lease_seconds=30,
            poll_seconds=0.05,
            clock=clock,
            rng=random.Random(3),
        )
        yield delivery, sender, clock


async def _drain(worker) -> None:
    for row in await worker.claim(worker.concurrency):
        await worker.process(row)


async def _notify_with_callback(client, receiver, **extra) -> dict:
    body = notify_body(
        recipient=BIRD, channel="pigeon", callback_url=receiver.url, reference="obx_1", **extra
    )
    response = await notify(client, body)
    assert response.status == 202, await response.text()
    return await response.json()


async def test_a_change_of_status_is_called_back_signed(client, receiver, workers):
    delivery, sender, _clock = workers
    accepted = await _notify_with_callback(client, receiver)

    await _drain(delivery)
    await _drain(sender)

    [(headers, body)] = receiver.received
    payload = Webhook(SECRET).verify(body, headers)
    assert payload["type"] == "notification.sent"
    assert payload["data"] == payload["data"] | {
        "id": accepted["id"],
        "status": "sent",
        "channel": "pigeon",
        "reference": "obx_1",
        "recipient_id": "u_b",
        "source": "worker",
        "sequence": 2,  # 1 is its acceptance, which the caller needs no callback for
        "finished_at": None,
    }
    assert headers["webhook-id"].startswith("msg_")
    [callback] = await Callback.all()
    assert callback.status is CallbackStatus.DELIVERED


async def test_the_callback_sender_is_woken_when_a_record_owes_a_callback(client, receiver, workers):
    delivery, _sender, _clock = workers
    woken: list[str] = []
    delivery.on_called_back = lambda: woken.append("callback owed")
    await _notify_with_callback(client, receiver)
    response = await notify(client, notify_body(recipient=BIRD, channel="pigeon"))  # no callback asked
    assert response.status == 202

    await _drain(delivery)

    assert woken == ["callback owed"]


async def test_a_failure_is_called_back_too(client, receiver, workers, pigeon):
    delivery, sender, _clock = workers
    await _notify_with_callback(client, receiver)
    await Notification.all().update(fallback_channels=[])
    pigeon.channel.script = [PermanentDeliveryError("provider answered 400", provider_status=400)]

    await _drain(delivery)
    await _drain(sender)

    [(headers, body)] = receiver.received
    assert Webhook(SECRET).verify(body, headers)["data"]["status"] == "failed"


async def test_a_refusing_caller_is_retried_with_the_same_webhook_id(client, receiver, workers):
    delivery, sender, clock = workers
    await _notify_with_callback(client, receiver)
    receiver.answers = [500, 503]

    await _drain(delivery)
    for _ in range(3):
        await _drain(sender)
        clock.advance(60)

    ids = [headers["webhook-id"] for headers, _ in receiver.received]
    assert len(ids) == 3
    assert len(set(ids)) == 1
    [callback] = await Callback.all()
    assert (callback.status, callback.attempts) == (CallbackStatus.DELIVERED, 3)


async def test_a_callback_no_one_accepts_is_abandoned_after_three_days(client, receiver, workers):
    delivery, sender, clock = workers
    await _notify_with_callback(client, receiver)
    receiver.answers = [500] * 10
    await _drain(delivery)
    await _drain(sender)

    clock.advance(timedelta(days=3, minutes=1).total_seconds())
    await _drain(sender)

    [callback] = await Callback.all()
    assert callback.status is CallbackStatus.ABANDONED
    assert callback.last_error == "caller answered 500"


async def test_no_callback_without_a_callback_url(client, workers):
    delivery, _sender, _clock = workers
    await notify(client, notify_body(recipient=BIRD, channel="pigeon"))

    await _drain(delivery)

    assert await Callback.all().count() == 0


@pytest.mark.parametrize(
    ("callback_url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "callback_url must be on an allowed origin"),
        ("http://127.0.0.1:1/hooks", "callback_url must be on an allowed origin"),
    ],
)
async def test_a_callback_to_another_origin_never_blocks_delivery(
    client, workers, pigeon, callback_url, reason
):
    delivery, _sender, _clock = workers
    response = await notify(client, notify_body(recipient=BIRD, channel="pigeon", callback_url=callback_url))

    assert response.status == 202, await response.text()
    accepted = await response.json()
    assert accepted["callback"]["will_be_sent"] is False
    assert accepted["callback"]["reason"].startswith(reason)
    await _drain(delivery)
    shown = await (await client.get(f"/notifications/{accepted['id']}", headers=ORDERS)).json()
    assert shown["status"] == "sent"
    assert shown["callback"] == accepted["callback"]
    assert len(pigeon.channel.sent) == 1
    assert await Callback.all().count() == 0  # nothing is ever sent to that origin


async def test_a_caller_without_a_secret_is_notified_without_callbacks(client, receiver, workers):
    delivery, _sender, _clock = workers
    body = notify_body(recipient=BIRD, channel="pigeon", callback_url=receiver.url)

    response = await notify(client, body, headers=MARKETING)

    assert response.status == 202, await response.text()
    callback = (await response.json())["callback"]
    assert callback == {
        "will_be_sent": False,
        "reason": "Status callbacks are not configured for caller 'marketing' (no signing secret).",
    }
    await _drain(delivery)
    assert (await Notification.first()).status == "sent"
    assert await Callback.all().count() == 0
    assert receiver.received == []


async def test_an_accepted_callback_is_announced(client, receiver):
    accepted = await _notify_with_callback(client, receiver)

    assert accepted["callback"] == {"will_be_sent": True, "reason": None}


async def test_without_a_callback_url_none_is_announced(client):
    response = await notify(client, notify_body(recipient=BIRD, channel="pigeon"))

    assert (await response.json())["callback"] == {"will_be_sent": False, "reason": None}


async def test_the_reference_is_kept_and_shown(client, receiver):
    accepted = await _notify_with_callback(client, receiver)

    shown = await (await client.get(f"/notifications/{accepted['id']}", headers=ORDERS)).json()

    assert accepted["reference"] == shown["reference"] == "obx_1"
