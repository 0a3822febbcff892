"""Inbound messages: a user's SMS reply ("STOP") sent on to the inbound URL, signed like receipts."""

from __future__ import annotations

import pytest

from tests.provider_sandbox.conftest import SECRETS, SMS_SECRET
from tests.provider_sandbox.receivers import verify, wait_until

STOP = {"channel": "sms", "from": "+447451277972", "text": "STOP"}


async def inbound_log(client) -> list[dict]:
    async with client.get("/_sandbox/inbound") as response:
        assert response.status == 200
        body = await response.json()
    assert body["count"] == len(body["data"])
    return body["data"]


async def test_a_stop_reply_reaches_the_inbound_url_signed_with_the_sms_secret(make_sandbox, receiver):
    sandbox = await make_sandbox()

    async with sandbox.post("/_sandbox/inbound", json=STOP) as response:
        assert response.status == 202
        answered = await response.json()
    arrived = await receiver.next()

    assert arrived.path == "/inbound/sms"
    assert [name for name, secret in SECRETS.items() if verify(secret, arrived)] == ["sms"]
    assert verify(SMS_SECRET, arrived)
    [event] = arrived.events
    assert event["id"] == answered["id"]
    assert event["id"].startswith("in_")
    assert event.pop("occurred_at").endswith("Z")
    assert event == {
        "id": answered["id"],
        "type": "inbound",
        "channel": "sms",
        "from": "+447451277972",
        "text": "STOP",
    }


async def test_the_inbound_log_shows_each_message_and_its_delivery(make_sandbox, receiver):
    receiver.script = [502]
    sandbox = await make_sandbox()

    async with sandbox.post("/_sandbox/inbound", json=STOP):
        pass

    async def sent() -> bool:
        log = await inbound_log(sandbox)
        return len(log) == 1 and log[0]["state"] == "sent"

    await wait_until(sent, "the inbound message to be sent")
    [entry] = await inbound_log(sandbox)
    assert (entry["text"], entry["attempts"], entry["last_error"]) == ("STOP", 2, "HTTP 502")
    assert len(receiver.received) == 2

    async with sandbox.delete("/_sandbox/inbound") as response:
        assert response.status == 204
    assert await inbound_log(sandbox) == []


async def test_inbound_messages_are_sent_at_once_whatever_the_receipt_delay(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=600_000)

    async with sandbox.post("/_sandbox/inbound", json=STOP) as response:
        assert response.status == 202

    assert [event["text"] for event in (await receiver.next()).events] == ["STOP"]


async def test_without_an_inbound_url_it_is_409_naming_the_setting(make_sandbox):
    sandbox = await make_sandbox(inbound_url=None)

    async with sandbox.post("/_sandbox/inbound", json=STOP) as response:
        assert response.status == 409
        assert "SANDBOX_INBOUND_URL" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "email"}, "channel"),
        ({"channel": None}, "channel"),
        ({"from": "07451 277972"}, "from"),
        ({"from": 447451277972}, "from"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 1601}, "text"),
        ({"to": "+447700900000"}, "to"),
    ],
)
async def test_a_bad_inbound_request_is_400_naming_the_field(make_sandbox, receiver, change, field):
    sandbox = await make_sandbox()

    async with sandbox.post("/_sandbox/inbound", json=STOP | change) as response:
        assert response.status == 400
        assert (await response.json())["field"] == field
    assert await inbound_log(sandbox) == []


async def test_an_inbound_body_that_is_not_a_json_object_is_400(make_sandbox):
    sandbox = await make_sandbox()

    async with sandbox.post("/_sandbox/inbound", data=b'["STOP"]') as response:
        assert response.status == 400
