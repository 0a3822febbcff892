# ruff: noqa: F811 - the console tests' fixtures are imported, and requested by name
"""The console shows what the gateway says about delivery: each event of a notification with its
source and reason, why a notification was suppressed, and which of a user's addresses a channel no
longer sends to (a bounce, an SMS opt-out). The gateway is a real process; opt-outs reach it as a
provider would send them, as signed inbound messages."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import aiohttp
import pytest

from notification_gateway.http_channel import sign_webhook
from orders_service.keys import GATEWAY, NOTIFICATIONS
from orders_service.models import DNAKitOrder, User
from tests.conftest import SMS_RECEIPT_SECRET
from tests.orders_service.conftest import ADMIN, order_body, run_once
from tests.orders_service.test_console import admin, staff  # noqa: F401 - fixtures


@pytest.fixture
async def lin(client) -> User:
    """A user whose number no other test uses: the gateway process, and its opt-outs, are shared."""
    number = f"+4474512{secrets.randbelow(10**5):05d}"
    return await User.create(
        id=f"u_lin_{number[-5:]}", name="Lin Sterling", email="lin@example.com", phone_number=number
    )


async def _reply(gateway_process, number: str, text: str) -> None:
    """The SMS provider tells the gateway that `number` texted `text`, signed as it signs receipts."""
    body = json.dumps(
        [
            {
                "type": "inbound",
                "id": f"in_{secrets.token_hex(6)}",
                "from": number,
                "text": text,
                "occurred_at": datetime.now(UTC).isoformat(),
            }
        ]
    ).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{gateway_process.url}/inbound/sms", data=body, headers=sign_webhook(SMS_RECEIPT_SECRET, body)
        ) as response,
    ):
        assert response.status == 200, await response.text()
        assert (await response.json())["applied"] == 1


def _standing(page: str, channel: str) -> str:
    """The text of `channel`'s line in the user page's Notification channels list."""
    start = page.index(f"<li><strong>{channel}</strong>:")
    return " ".join(page[start : page.index("</li>", start)].split())


async def test_the_user_page_shows_an_sms_opt_out_and_its_lifting(client, admin, lin, gateway_process):
    before = await (await admin.get(f"/console/users/{lin.id}")).text()
    await _reply(gateway_process, lin.phone_number, "STOP")
    opted_out = await (await admin.get(f"/console/users/{lin.id}")).text()
    await _reply(gateway_process, lin.phone_number, "START")
    after = await (await admin.get(f"/console/users/{lin.id}")).text()

    assert "sends" in _standing(before, "SMS")
    assert "suppressed: opted out (replied STOP)" in _standing(opted_out, "SMS")
    assert "sends" in _standing(opted_out, "email")  # an opt-out is the channel's alone
    assert "suppressed" not in _standing(after, "SMS")


async def test_a_user_page_names_why_the_gateway_cannot_say(client, admin, lin, monkeypatch):
    listed = await admin.get(f"/console/users/{lin.id}")  # the channels are listed, and cached
    assert listed.status == 200
    monkeypatch.setattr(client.app[GATEWAY], "base_url", "http://127.0.0.1:9")  # the gateway is gone

    cached = await admin.get(f"/console/users/{lin.id}")
    monkeypatch.setattr(client.app[NOTIFICATIONS].directory, "_cached", None)
    uncached = await admin.get(f"/console/users/{lin.id}")

    assert (cached.status, uncached.status) == (200, 200)  # the page never waits on it
    assert (
        "The notification gateway cannot say what it suppresses: the gateway cannot be reached"
        " (ClientConnectorError)." in await cached.text()
    )
    assert (
        "The notification gateway cannot be asked which channels exist (the gateway cannot be"
        " reached (ClientConnectorError))" in await uncached.text()
    )
    assert "Place order" in await uncached.text()


async def test_the_order_page_shows_the_gateway_events_with_their_source(client, admin, lin, make_relay):
    placed = await client.post(
        "/orders", json=order_body(user_id=lin.id, notification_channel="sms"), headers=ADMIN
    )
    assert placed.status == 201, await placed.text()
    order_id = (await placed.json())["id"]
    await run_once(make_relay())

    page = await (await admin.get(f"/console/orders/{order_id}")).text()

    assert page.count('<li class="event">') == 1  # the gateway's workers are off: only its acceptance
    [event] = page.split('<li class="event">')[1:]
    event = " ".join(event[: event.index("</li>")].split())
    assert '>queued</span> on <span class="channel">SMS</span>' in event
    assert '<span class="source">source: caller</span>' in event
    assert '<span class="reason">— ' in event  # routing's word on why SMS


async def test_a_suppressed_notification_says_why_on_its_order(
    client, admin, lin, make_relay, gateway_process
):
    placed = await client.post(
        "/orders", json=order_body(user_id=lin.id, notification_channel="sms"), headers=ADMIN
    )
    order_id = (await placed.json())["id"]
    await run_once(make_relay())
    await _reply(gateway_process, lin.phone_number, "STOP")
    # What the gateway's callback says when a worker finds the number opted out.
    await DNAKitOrder.filter(id=order_id).update(
        notification_status="suppressed",
        notification_channel="sms",
        notification_reason="the address is suppressed on sms (opted_out)",
    )

    page = " ".join((await (await admin.get(f"/console/orders/{order_id}")).text()).split())

    assert '<p class="why">Why: the address is suppressed on sms (opted_out)</p>' in page
    assert "Suppressed: opted out (replied STOP). The gateway does not send SMS to this address until" in page
    assert "hx-get" not in page  # final: the timeline stops asking
