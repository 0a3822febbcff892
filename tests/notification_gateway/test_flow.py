# ruff: noqa: F811 - the delivery tests' fixtures are imported, and requested by name
"""Flow control on a real database: circuit breakers, provider pauses, send rates, operators.

Time is injected: the workers' clock is a value the test moves. Two `FlowControl` objects over one
database stand for two gateway processes.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from notification_gateway import RetryableDeliveryError
from notification_gateway.app import create_app
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.flow import FlowConfig, FlowControl, parse_breakers, parse_rates
from notification_gateway.metrics import FlowMetrics
from notification_gateway.models import (
    Callback,
    ChannelState,
    DeliveryAttempt,
    Notification,
    NotificationEvent,
)
from notification_gateway.policy import RetryPolicy
from notification_gateway.status import CircuitState, NotificationStatus
from tests.notification_gateway.conftest import ORDERS, notify, notify_body
from tests.notification_gateway.test_delivery import (  # noqa: F401 - fixtures
    Clock,
    clock,
    email_stub,
    make_worker,
)

OPERATOR_TOKEN = "operator-token-0123456789abcdef"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
ANN_TOKEN = "ann-operator-token-0123456789abcdef"
NO_FALLBACK = {"id": "u_b", "name": "Bird Fancier", "loft": "loft-7"}  # no e-mail: nothing to fall back to
WITH_FALLBACK = NO_FALLBACK | {"email": "b@example.com"}
CALLER_ORIGIN = "http://127.0.0.1:8080"
OUTAGE = RetryableDeliveryError("provider answered 503", provider_status=503)


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon):
    settings = gateway_settings.model_copy(
        update={
            "operator_token": SecretStr(OPERATOR_TOKEN),
            "operators": SecretStr(f"ann:{ANN_TOKEN}"),
            "callback_origins": CALLER_ORIGIN,  # callbacks are owed (and kept: no sender runs here)
            "webhook_secrets": SecretStr("orders:whsec_b3JkZXJzLWNhbGxiYWNrLXNlY3JldC0wMTIz"),
        }
    )
    return await aiohttp_client(create_app(settings, extra_plugins=[("pigeon", pigeon)]))


def flow_control(*, breakers: str = "", rates: str = "", cooldown: float = 10) -> FlowControl:
    config = FlowConfig(
        breakers=parse_breakers(breakers),
        cooldown=timedelta(seconds=cooldown),
        rates=parse_rates(rates),
        probe_lease=timedelta(seconds=30),
    )
    return FlowControl(config, FlowMetrics(CollectorRegistry()))


async def _queue(client, count: int, recipient: dict, **asked) -> list[str]:
    """Notifications sent by pigeon; `fallback=[...]` asks for fallbacks (a named channel has none)."""
    ids = []
    for _ in range(count):
        response = await notify(client, notify_body(recipient=recipient, channel="pigeon", **asked))
        assert response.status == 202, await response.text()
        ids.append((await response.json())["id"])
    return ids


async def _turn(worker: DeliveryWorker) -> list[Notification]:
    """One loop turn without the loop: read the shared state, claim, process what was claimed."""
    await worker.read_flow()
    claimed = await worker.claim(worker.concurrency)
    await asyncio.gather(*(worker.process(notification) for notification in claimed))
    return claimed


async def _channel(client, name: str) -> dict:
    response = await client.get("/channels", headers=ORDERS)
    assert response.status == 200
    return next(c for c in (await response.json())["data"] if c["name"] == name)


async def _attempts(ids: list[str]) -> dict[str, list[DeliveryAttempt]]:
    return {i: await DeliveryAttempt.filter(notification_id=i).order_by("number") for i in ids}


async def test_failures_open_the_circuit_which_holds_messages_until_a_probe_succeeds(
    client, make_worker, pigeon, clock
):
    ids = await _queue(client, 5, NO_FALLBACK)
    worker = make_worker(flow=flow_control(breakers="pigeon=3/60s", cooldown=10), concurrency=3)
    pigeon.channel.script = [OUTAGE] * 4  # three sends, then the first probe, fail

    assert len(await _turn(worker)) == 3
    opened = await _channel(client, "pigeon")
    assert opened["flow"] | {"opened_at": None, "probe_at": None, "breaker": None} == {
        "circuit": "open",
        "failures": 3,
        "breaker": None,  # the application's own setting, not this worker's
        "opened_at": None,
        "opened_by": "failures",
        "probe_at": None,
        "paused_until": None,
        "send_rate": None,
    }

    clock.advance(9)  # every backoff is over, the cool-down is not: nothing is claimed
    assert await _turn(worker) == []
    clock.advance(1)  # the cool-down is over: one probe, which fails
    [probe] = await _turn(worker)
    assert (await _channel(client, "pigeon"))["flow"]["circuit"] == "open"
    assert await _turn(worker) == []  # open again for another cool-down
    clock.advance(10)
    [_second_probe] = await _turn(worker)  # succeeds: closed
    assert (await _channel(client, "pigeon"))["flow"]["circuit"] == "closed"
    clock.advance(10)
    while await _turn(worker):
        clock.advance(10)

    stored = await Notification.filter(id__in=ids)
    assert {n.status for n in stored} == {NotificationStatus.SENT}
    attempts = await _attempts(ids)
    assert sum(len(a) for a in attempts.values()) == 3 + 1 + 5  # three failures, a failed probe, five sends
    [failed_probe] = [a for a in attempts[probe.id] if not a.counted]
    assert (failed_probe.outcome, failed_probe.provider_status) == ("retryable", 503)
    assert all(sum(a.counted for a in mine) <= 3 for mine in attempts.values())  # GATEWAY_MAX_ATTEMPTS
    assert len(pigeon.channel.sent) == 5


async def test_a_success_between_failures_starts_the_count_again(client, make_worker, pigeon, clock):
    await _queue(client, 4, NO_FALLBACK)
    worker = make_worker(flow=flow_control(breakers="pigeon=2/60s"), concurrency=1)
    pigeon.channel.script = [OUTAGE, None, OUTAGE]

    for _ in range(3):
        await _turn(worker)
        clock.advance(5)

    flow = (await _channel(client, "pigeon"))["flow"]
    assert (flow["circuit"], flow["failures"]) == ("closed", 1)


async def test_a_named_operator_is_named_as_who_opened_the_circuit(client):
    ann = {"Authorization": f"Bearer {ANN_TOKEN}"}

    response = await client.post("/channels/pigeon/circuit", json={"state": "open"}, headers=ann)

    assert response.status == 200, await response.text()
    assert (await response.json())["flow"]["opened_by"] == "ann"
    response = await client.get("/channels", headers=OPERATOR)
    [pigeon] = [channel for channel in (await response.json())["data"] if channel["name"] == "pigeon"]
    assert (pigeon["flow"]["circuit"], pigeon["flow"]["opened_by"]) == ("open", "ann")


async def test_an_open_circuit_sends_messages_with_a_fallback_on_to_it(
    client, make_worker, pigeon, email_stub
):
    with_fallback = await _queue(
        client, 2, WITH_FALLBACK, fallback=["email"], callback_url=f"{CALLER_ORIGIN}/hooks"
    )
    [without] = await _queue(client, 1, NO_FALLBACK)
    worker = make_worker()

    response = await client.post("/channels/pigeon/circuit", json={"state": "open"}, headers=OPERATOR)
    assert response.status == 200, await response.text()
    assert (await response.json())["flow"]["opened_by"] == "operator"
    await _turn(worker)

    moved = await Notification.filter(id__in=with_fallback)
    assert {(n.channel, n.status) for n in moved} == {("email", NotificationStatus.SENT)}
    assert [a.channel for mine in (await _attempts(with_fallback)).values() for a in mine] == [
        "email",
        "email",
    ]
    for notification_id in with_fallback:
        response = await client.get(f"/notifications/{notification_id}", headers=ORDERS)
        events = [
            (e["status"], e["channel"], e["source"], e["reason"]) for e in (await response.json())["events"]
        ]
        assert events[1:] == [
            (
                "queued",
                "email",
                "gateway",
                "the pigeon circuit is open (opened by operator): trying email",
            ),
            ("sent", "email", "worker", None),
        ]
        told = [c.payload for c in await Callback.filter(notification_id=notification_id).order_by("id")]
        assert [(c["type"], c["data"]["channel"], c["data"]["source"]) for c in told] == [
            ("notification.fallback", "email", "gateway"),
            ("notification.sent", "email", "worker"),
        ]
    held = await Notification.get(id=without)
    assert (held.channel, held.status, held.attempt_count) == ("pigeon", NotificationStatus.QUEUED, 0)
    assert await NotificationEvent.filter(notification_id=without).count() == 1  # its acceptance only
    assert pigeon.channel.sent == []
    assert len(email_stub.channel.sent) == 2

    response = await client.post("/channels/pigeon/circuit", json={"state": "closed"}, headers=OPERATOR)
    assert (await response.json())["flow"]["circuit"] == "closed"
    await _turn(worker)
    assert (await Notification.get(id=without)).status is NotificationStatus.SENT


async def test_a_circuit_opened_by_hand_is_never_probed(client, make_worker, pigeon, clock):
    [held] = await _queue(client, 1, NO_FALLBACK)
    worker = make_worker()
    await client.post("/channels/pigeon/circuit", json={"state": "open"}, headers=OPERATOR)

    clock.advance(3600)
    assert await _turn(worker) == []
    assert (await Notification.get(id=held)).attempt_count == 0


async def test_retry_after_pauses_the_channel_without_using_an_attempt(client, make_worker, pigeon, clock):
    ids = await _queue(client, 3, NO_FALLBACK)
    first, second = make_worker(concurrency=1), make_worker(concurrency=1, flow=flow_control())
    pigeon.channel.script = [RetryableDeliveryError("slow down", provider_status=429, retry_after=10)]

    [paused] = await _turn(first)
    flow = (await _channel(client, "pigeon"))["flow"]
    assert flow["circuit"] == "closed"
    assert flow["paused_until"] is not None
    clock.advance(9.5)
    assert await _turn(second) == []  # the other process respects the pause
    assert await _turn(first) == []
    clock.advance(0.5)
    while await _turn(second):
        pass

    assert {n.status for n in await Notification.filter(id__in=ids)} == {NotificationStatus.SENT}
    [asked_to_wait, sent] = (await _attempts([paused.id]))[paused.id]
    assert (asked_to_wait.provider_status, asked_to_wait.counted, asked_to_wait.retry_after_seconds) == (
        429,
        False,
        10.0,
    )
    assert sent.outcome == "sent"
    assert (await Notification.get(id=paused.id)).attempts_on_channel == 1


async def test_endless_pauses_end_once_the_message_has_made_its_attempts_in_all(
    client, make_worker, pigeon, clock
):
    [endless] = await _queue(client, 1, NO_FALLBACK)
    policy = RetryPolicy(max_attempts=3, max_attempts_in_all=6, base_seconds=1, max_seconds=10)
    worker = make_worker(concurrency=1, policy=policy)
    pigeon.channel.script = [RetryableDeliveryError("slow down", provider_status=429, retry_after=10)] * 20

    for _ in range(20):
        clock.advance(11)
        await _turn(worker)

    notification = await Notification.get(id=endless)
    attempts = (await _attempts([endless]))[endless]
    assert [attempt.counted for attempt in attempts] == [False] * 5 + [True] * 3
    assert (notification.status, notification.attempt_count) == (NotificationStatus.FAILED, 8)


async def test_two_processes_share_one_send_rate(client, make_worker, clock):
    await _queue(client, 30, NO_FALLBACK)
    rates = "pigeon=10/second"
    first, second = make_worker(flow=flow_control(rates=rates)), make_worker(flow=flow_control(rates=rates))
    start = clock()

    claimed = []
    for worker in (first, second, first, second):
        await worker.read_flow()
        claimed += await worker.claim(worker.concurrency)

    # One second of slots (ten, plus the one that starts it) and no more, whoever claims them.
    assert len(claimed) == 11
    state = await ChannelState.get(channel="pigeon")
    assert state.next_slot_at == start + timedelta(seconds=1.1)
    slots = sorted([*first._slots.values(), *second._slots.values()])
    assert [b - a for a, b in itertools.pairwise(slots)] == [timedelta(seconds=0.1)] * 10


async def test_concurrent_reservations_never_share_a_slot(client):
    flows = [flow_control(rates="pigeon=100/second") for _ in range(4)]
    for flow in flows:
        await flow.refresh(Clock()())
    now = Clock()()

    taken = await asyncio.gather(*(flow.reserve("pigeon", 25, now) for flow in flows))

    slots = sorted(slot for mine in taken for slot in mine)
    assert len(set(slots)) == 100
    assert slots[-1] - slots[0] == timedelta(seconds=0.99)


@pytest.mark.parametrize(
    ("headers", "path", "body", "status"),
    [
        ({}, "/channels/pigeon/circuit", {"state": "open"}, 401),
        (ORDERS, "/channels/pigeon/circuit", {"state": "open"}, 403),
        (OPERATOR, "/channels/owl/circuit", {"state": "open"}, 404),
        (OPERATOR, "/channels/pigeon/circuit", {"state": "half_open"}, 422),
        (OPERATOR, "/channels/pigeon/circuit", {"state": "open", "why": "x"}, 422),
    ],
)
async def test_only_operators_set_a_circuit_and_only_a_real_one(client, headers, path, body, status):
    response = await client.post(path, json=body, headers=headers)

    assert response.status == status
    assert response.content_type == "application/problem+json"
    assert (await _channel(client, "pigeon"))["flow"]["circuit"] == "closed"


async def test_operators_read_channels_and_metrics_show_each_circuit(client):
    await client.post("/channels/sms/circuit", json={"state": "open"}, headers=OPERATOR)

    response = await client.get("/channels", headers=OPERATOR)
    assert response.status == 200
    circuits = {c["name"]: c["flow"]["circuit"] for c in (await response.json())["data"]}
    assert circuits == {"email": "closed", "pigeon": "closed", "sms": "open"}
    metrics = await (await client.get("/metrics")).text()
    assert 'channel_circuit_state{channel="sms",state="open"} 1.0' in metrics
    assert 'channel_circuit_state{channel="sms",state="closed"} 0.0' in metrics
    assert 'channel_paused_seconds{channel="email"} 0.0' in metrics
    assert (await client.post("/notify", json=notify_body(), headers=OPERATOR)).status == 403


async def test_the_circuit_endpoint_is_in_the_openapi_document(client):
    document = await (await client.get("/openapi.json")).json()

    operation = document["paths"]["/channels/{channel}/circuit"]["post"]
    assert {"200", "401", "403", "404", "422"} <= set(operation["responses"])
    assert CircuitState.HALF_OPEN.value not in str(operation["requestBody"])
