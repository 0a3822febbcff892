"""The outbox relay against the real gateway process: accepted, refused, or retried later."""

from __future__ import annotations

import logging
from datetime import timedelta

import aiohttp
from prometheus_client import CollectorRegistry

from orders_service.lifecycle import OutboxStatus
from orders_service.models import DNAKitOrder, OutboxMessage
from orders_service.relay_metrics import RelayMetrics
from tests.orders_service.conftest import GATEWAY_TOKEN, order_body, place, run_once


async def test_an_accepted_notification_is_recorded_on_the_order(client, ada, make_relay, gateway_process):
    order = await (await place(client, order_body(notification_channel="sms"))).json()

    await run_once(make_relay())

    [message] = await OutboxMessage.all()
    assert message.status is OutboxStatus.SENT
    assert message.notification_id.startswith("ntf_")
    stored = await DNAKitOrder.get(id=order["id"])
    assert (stored.notification_status, stored.notification_channel, stored.notification_id) == (
        "queued",
        "sms",
        message.notification_id,
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway_process.url}/notifications/{message.notification_id}",
            headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
        ) as response,
    ):
        at_gateway = await response.json()
    assert at_gateway["reference"] == message.id
    assert (
        at_gateway["message"]
        == f"Hi Ada Lovelace, your order has been successfully placed. Reference: {order['id']}."
    )


async def test_sending_twice_makes_one_notification(client, ada, make_relay):
    await place(client)
    await run_once(make_relay())
    first = (await OutboxMessage.first()).notification_id
    await OutboxMessage.all().update(status=OutboxStatus.PENDING)  # as if the answer had been lost

    await run_once(make_relay())

    assert (await OutboxMessage.first()).notification_id == first


async def test_while_the_gateway_is_unreachable_the_row_waits_and_backs_off(client, ada, make_relay):
    await place(client)
    relay = make_relay(url="http://127.0.0.1:9")

    await run_once(relay)
    message = await OutboxMessage.first()

    assert message.status is OutboxStatus.PENDING
    assert message.attempts == 1
    assert message.last_error.startswith("gateway unreachable")
    assert make_relay.clock.now <= message.next_attempt_at <= make_relay.clock.now + timedelta(seconds=1)
    assert (await relay.claim(4)) == []  # not due yet


async def test_a_rejected_token_is_retried_not_dropped(client, ada, make_relay):
    await place(client)

    await run_once(make_relay(token="not-the-token"))

    message = await OutboxMessage.first()
    assert message.status is OutboxStatus.PENDING
    assert message.last_error == "the gateway refused this service's token (401)"


async def test_a_rejected_token_is_logged_once_by_its_name(client, ada, make_relay, caplog):
    await place(client)
    await place(client)
    relay = make_relay(token="not-the-token")

    with caplog.at_level(logging.WARNING, logger="orders_service.relay"):
        await run_once(relay)

    messages = [record.getMessage() for record in caplog.records]
    assert messages.count("the gateway refused this service's token (401)") == 1, messages
    assert not any("not reached" in m or "unreachable" in m for m in messages), messages


async def test_metrics_count_pending_rows_their_age_and_refusals_by_cause(client, ada, make_relay):
    await place(client)
    await place(client)
    registry = CollectorRegistry()
    relay = make_relay(token="not-the-token", metrics=RelayMetrics(registry))
    oldest = await OutboxMessage.all().order_by("created_at").first()
    make_relay.clock.now = oldest.created_at + timedelta(seconds=90)

    await run_once(relay)
    await relay.before_claim()

    assert registry.get_sample_value("outbox_refusals_total", {"cause": "token_refused"}) == 2
    assert registry.get_sample_value("outbox_pending") == 2
    assert registry.get_sample_value("outbox_oldest_pending_age_seconds") == 90
    unreachable = make_relay(url="http://127.0.0.1:9", metrics=relay.metrics)
    await OutboxMessage.all().update(next_attempt_at=make_relay.clock.now)
    await run_once(unreachable)
    assert registry.get_sample_value("outbox_refusals_total", {"cause": "unreachable"}) == 2


async def test_a_notification_the_gateway_refuses_fails_and_the_order_shows_it(client, ada, make_relay):
    order = await (await place(client)).json()
    message = await OutboxMessage.first()
    await OutboxMessage.filter(id=message.id).update(payload=message.payload | {"channel": "fax"})

    await run_once(make_relay())

    message = await OutboxMessage.first()
    assert message.status is OutboxStatus.FAILED
    assert message.last_error.startswith("gateway refused it (422): No channel is called 'fax'")
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "failed"
