"""Every magic test address of the provider sandbox, through the real processes:

order → orders service → gateway → sandbox → signed receipt → gateway → signed
status callback → the order shows what became of its notification.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import ADMIN, CALLER_TOKEN, SHIPPING, wait_until

pytestmark = pytest.mark.slow

WES, WGS = "whole-exome-sequencing", "whole-genome-sequencing"
CALLER = {"Authorization": f"Bearer {CALLER_TOKEN}"}


async def place(http, system, user_id: str, kit: str, **extra) -> dict:
    body = {"user_id": user_id, "sequencing_type": kit, "shipping_info": SHIPPING} | extra
    async with http.post(f"{system.orders.url}/orders", json=body, headers=ADMIN) as response:
        assert response.status == 201, await response.text()
        return await response.json()


async def settled(http, system, order_id: str, status: str) -> dict:
    """The order's notification once it shows `status` (a bound on the wait, not a timing check)."""
    seen: dict = {}

    async def check() -> bool:
        async with http.get(f"{system.orders.url}/orders/{order_id}", headers=ADMIN) as response:
            seen.update((await response.json())["notification"])
        return seen["status"] == status

    await wait_until(check, f"order {order_id} to show {status} (last seen: {seen})")
    return seen


async def events(http, system, notification_id: str) -> list[tuple[str, str, str]]:
    async with http.get(f"{system.gateway.url}/notifications/{notification_id}", headers=CALLER) as response:
        found = await response.json()
    return [(e["status"], e["channel"], e["source"]) for e in found["events"]]


async def receipts(http, system) -> list[dict]:
    async with http.get(f"{system.sandbox.url}/_sandbox/receipts") as response:
        return (await response.json())["data"]


@pytest.mark.parametrize(
    ("user_id", "kit", "channel", "status"),
    [
        pytest.param("u_ada", WGS, "email", "delivered", id="email-delivered"),
        pytest.param("u_ada", WES, "sms", "delivered", id="sms-delivered"),
        pytest.param("u_barbara", WGS, "email", "bounced", id="email-bounce"),
        pytest.param("u_hedy", WES, "sms", "undelivered", id="sms-0001-undelivered"),
    ],
)
async def test_a_named_channel_ends_as_its_provider_reports(http, system, user_id, kit, channel, status):
    order = await place(http, system, user_id, kit, notification_channel=channel)

    notification = await settled(http, system, order["id"], status)

    assert notification["channel"] == channel
    assert notification["reason"].startswith(f"{status} on {channel}")
    assert await events(http, system, notification["id"]) == [
        ("queued", channel, "caller"),
        ("sent", channel, "worker"),
        (status, channel, "provider"),
    ]


@pytest.mark.parametrize(
    ("user_id", "kit", "channel"),
    [
        pytest.param("u_katherine", WGS, "email", id="email-noreceipt"),
        pytest.param("u_katherine", WES, "sms", id="sms-0002-noreceipt"),
    ],
)
async def test_a_message_that_never_gets_a_receipt_stays_sent(http, system, user_id, kit, channel):
    silent = await place(http, system, user_id, kit, notification_channel=channel)
    # A later message on the same channel gets its receipt, so the silent one's would have come too.
    answered = await place(http, system, "u_ada", kit, notification_channel=channel)

    await settled(http, system, answered["id"], "delivered")
    notification = await settled(http, system, silent["id"], "sent")

    assert notification["channel"] == channel
    sent_receipts = [r for r in await receipts(http, system) if r["channel"] == channel]
    assert len(sent_receipts) == 1  # the answered message's only


async def test_a_bounced_email_falls_back_to_sms_which_is_delivered(http, system):
    order = await place(http, system, "u_barbara", WGS)  # automatic: e-mail, then SMS

    notification = await settled(http, system, order["id"], "delivered")

    assert notification["channel"] == "sms"
    assert await events(http, system, notification["id"]) == [
        ("queued", "email", "caller"),
        ("sent", "email", "worker"),
        ("bounced", "email", "provider"),
        ("queued", "sms", "gateway"),
        ("sent", "sms", "worker"),
        ("delivered", "sms", "provider"),
    ]


async def test_an_undelivered_sms_falls_back_to_email_which_is_delivered(http, system):
    order = await place(http, system, "u_hedy", WES)  # automatic: SMS, then e-mail

    notification = await settled(http, system, order["id"], "delivered")

    assert notification["channel"] == "email"
    assert [status for status, _, _ in await events(http, system, notification["id"])] == [
        "queued",
        "sent",
        "undelivered",
        "queued",
        "sent",
        "delivered",
    ]


async def test_a_bounced_address_is_suppressed_for_the_next_order(http, system):
    first = await place(http, system, "u_barbara", WGS, notification_channel="email")
    await settled(http, system, first["id"], "bounced")

    second = await place(http, system, "u_barbara", WGS, notification_channel="email")
    notification = await settled(http, system, second["id"], "suppressed")

    assert notification["reason"] == "the address is suppressed on email (bounced)"


async def test_a_stop_reply_opts_the_number_out(http, system):
    async with http.post(
        f"{system.sandbox.url}/_sandbox/inbound",
        json={"channel": "sms", "from": "+447451277972", "text": "STOP"},
    ) as response:
        assert response.status == 202, await response.text()
    params = {"channel": "sms", "address": "+447451277972"}

    async def opted_out() -> bool:
        async with http.get(f"{system.gateway.url}/suppressions", params=params, headers=CALLER) as response:
            return (await response.json())["count"] == 1

    await wait_until(opted_out, "the STOP reply to opt the number out")
    order = await place(http, system, "u_ada", WES, notification_channel="sms")
    notification = await settled(http, system, order["id"], "suppressed")
    assert notification["reason"] == "the address is suppressed on sms (opted_out)"
