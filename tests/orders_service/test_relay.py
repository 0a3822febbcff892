"""The outbox relay against the real gateway process: accepted, refused, or retried later."""

from __future__ import annotations

from datetime import timedelta

import aiohttp

from orders_service.lifecycle import OutboxStatus
from orders_service.models import DNAKitOrder, OutboxMessage
from tests.orders_service.conftest import GATEWAY_TOKEN, order_body, place, run_once


async def test_an_accepted_notification_is_recorded_on_the_order(client, ada, make_relay, gateway_process):
    order = await (await place(client, order_body(notification_channel="sms"))).json()

    await run_once(make_relay())

    [message] = await OutboxMessage.all()
    assert message.status is OutboxStatus.SENT
    assert message.gateway_id.startswith("ntf_")
    stored = await DNAKitOrder.get(id=order["id"])
    assert (stored.notification_status, stored.notification_channel, stored.notification_id) == (
        "queued",
        "sms",
        message.gateway_id,
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"{gateway_process.url}/notifications/{message.gateway_id}",
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
    first = (await OutboxMessage.first()).gateway_id
    await OutboxMessage.all().update(status=OutboxStatus.PENDING)  # as if the answer had been lost

    await run_once(make_relay())

    assert (await OutboxMessage.first()).gateway_id == first


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
    assert (message.status, message.last_error) == (OutboxStatus.PENDING, "gateway answered 401")


async def test_a_notification_the_gateway_refuses_fails_and_the_order_shows_it(client, ada, make_relay):
    order = await (await place(client)).json()
    message = await OutboxMessage.first()
    await OutboxMessage.filter(id=message.id).update(payload=message.payload | {"channel": "fax"})

    await run_once(make_relay())

    message = await OutboxMessage.first()
    assert message.status is OutboxStatus.FAILED
    assert message.last_error.startswith("gateway refused it (422): No channel is called 'fax'")
    assert (await DNAKitOrder.get(id=order["id"])).notification_status == "failed"
