"""Delivery receipts: signed, one outcome per magic address, delayed, batched, retried, never in the way.

Every receiver is a real local HTTP server. Delays are checked by behaviour
(a receipt held by a long delay is still scheduled, then `flush` sends it),
never by timing thresholds.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from pathlib import Path

import pytest

from provider_sandbox.outcomes import outcome_for
from provider_sandbox.signing import signature
from tests.processes import free_port
from tests.provider_sandbox.conftest import (
    EMAIL_SECRET,
    PUSH_SECRET,
    SECRETS,
    SMS_SECRET,
    messages,
    receipts,
    send_email,
    send_push,
    send_sms,
)
from tests.provider_sandbox.receivers import HANG, verify, wait_until

TEXT = "Your kit order was placed."
HOLD_MS = 600_000  # the longest delay: receipts stay scheduled until flushed


async def send(client, channel: str, recipient: str) -> str:
    """Send one message on `channel`; the id the provider answered with."""
    if channel == "email":
        status, answer = await send_email(client, {"recipient": recipient, "message": TEXT})
    elif channel == "sms":
        status, answer = await send_sms(client, {"recipient": recipient, "message": TEXT})
    else:
        status, answer = await send_push(client, recipient)
    assert status == 200, answer
    return answer["id"]


async def set_delay(client, delay_ms: int) -> dict:
    async with client.put("/_sandbox/receipts/settings", json={"delay_ms": delay_ms}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def flush(client) -> int:
    async with client.post("/_sandbox/receipts/flush") as response:
        assert response.status == 200
        return (await response.json())["flushed"]


async def settled(client, count: int, state: str) -> list[dict]:
    """Wait until `count` receipts are logged and all are in `state`; return them."""
    found: list[dict] = []

    async def check() -> bool:
        nonlocal found
        found = await receipts(client)
        return len(found) == count and all(entry["state"] == state for entry in found)

    await wait_until(check, f"{count} receipt(s) {state}")
    return found


# --- the wire format and its signature ---


async def test_a_receipt_carries_the_message_id_the_send_answered_with(make_sandbox, receiver):
    sandbox = await make_sandbox()

    message_id = await send(sandbox, "sms", "+447451277972")
    arrived = await receiver.next()

    assert arrived.path == "/receipts/sms"
    assert arrived.headers["Content-Type"] == "application/json"
    [event] = arrived.events
    assert event.pop("id").startswith("evt_")
    assert event.pop("occurred_at").endswith("Z")
    assert event == {
        "type": "receipt",
        "channel": "sms",
        "message_id": message_id,
        "status": "delivered",
        "reason": "ok",
    }
    [recorded] = await messages(sandbox)
    assert recorded["id"] == message_id


async def test_a_receipt_is_signed_over_timestamp_dot_body_with_the_channel_secret(make_sandbox, receiver):
    sandbox = await make_sandbox()

    await send(sandbox, "email", "ada@example.com")
    arrived = await receiver.next()

    assert arrived.headers["X-Sandbox-Signature"].startswith("sha256=")
    assert arrived.headers["X-Sandbox-Timestamp"].isdigit()
    assert arrived.headers["X-Sandbox-Delivery"].startswith("dlv_")
    assert verify(EMAIL_SECRET, arrived)
    assert not verify(SMS_SECRET, arrived)


async def test_a_changed_body_or_timestamp_no_longer_verifies(make_sandbox, receiver):
    sandbox = await make_sandbox()

    await send(sandbox, "email", "ada@example.com")
    arrived = await receiver.next()

    tampered_body = type(arrived)(
        arrived.path, arrived.headers, arrived.body.replace(b"delivered", b"bounced")
    )
    replayed_later = type(arrived)(
        arrived.path,
        arrived.headers | {"X-Sandbox-Timestamp": str(int(arrived.headers["X-Sandbox-Timestamp"]) + 600)},
        arrived.body,
    )
    assert verify(EMAIL_SECRET, arrived)
    assert not verify(EMAIL_SECRET, tampered_body)
    assert not verify(EMAIL_SECRET, replayed_later)


@pytest.mark.parametrize(
    ("channel", "recipient"),
    [("email", "ada@example.com"), ("sms", "+447451277972"), ("push", "ada-orders")],
)
async def test_each_channel_posts_to_its_own_url_signed_with_its_own_secret(
    make_sandbox, receiver, channel, recipient
):
    sandbox = await make_sandbox()

    message_id = await send(sandbox, channel, recipient)
    arrived = await receiver.next()

    assert arrived.path == f"/receipts/{channel}"
    assert [event["message_id"] for event in arrived.events] == [message_id]
    assert [name for name, secret in SECRETS.items() if verify(secret, arrived)] == [channel]


# --- the magic addresses ---

RECEIPT_ROWS = [
    pytest.param("email", "ada@example.com", "delivered", "ok", id="email-delivered"),
    pytest.param("email", "ada+bounce@example.com", "bounced", "mailbox_unavailable", id="email-bounce"),
    pytest.param("email", "Ada+Bounce@example.com", "bounced", "mailbox_unavailable", id="email-bounce-case"),
    pytest.param("sms", "+447451277972", "delivered", "ok", id="sms-delivered"),
    pytest.param("sms", "+447700900001", "undelivered", "handset_unreachable", id="sms-0001"),
    pytest.param("push", "ada-orders", "delivered", "ok", id="push-delivered"),
    pytest.param("push", "ada-bounce", "bounced", "subscription_gone", id="push-bounce"),
    pytest.param("push", "ada-undelivered", "undelivered", "device_unreachable", id="push-undelivered"),
]
SILENT_ROWS = [
    pytest.param("email", "ada+noreceipt@example.com", "ada@example.com", id="email-noreceipt"),
    pytest.param("sms", "+447700900002", "+447451277972", id="sms-0002"),
    pytest.param("push", "ada-noreceipt", "ada-orders", id="push-noreceipt"),
]


@pytest.mark.parametrize(("channel", "recipient", "status", "reason"), RECEIPT_ROWS)
async def test_the_address_decides_the_receipt(make_sandbox, receiver, channel, recipient, status, reason):
    sandbox = await make_sandbox()

    message_id = await send(sandbox, channel, recipient)
    [event] = (await receiver.next()).events

    assert (event["message_id"], event["status"], event["reason"]) == (message_id, status, reason)


@pytest.mark.parametrize(("channel", "silent", "ordinary"), SILENT_ROWS)
async def test_a_no_receipt_address_never_gets_one(make_sandbox, receiver, channel, silent, ordinary):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS)
    await send(sandbox, channel, silent)
    ordinary_id = await send(sandbox, channel, ordinary)

    assert [entry["message_id"] for entry in await receipts(sandbox)] == [ordinary_id]
    assert await flush(sandbox) == 1
    arrived = await receiver.next()
    assert [event["message_id"] for event in arrived.events] == [ordinary_id]
    assert receiver.received == [arrived]


@pytest.mark.parametrize(
    ("channel", "recipient", "expected"),
    [
        ("email", "x+bounce@bounce.example", "bounced"),  # the local part decides, not the domain
        ("email", "x@example+bounce.com", "delivered"),
        ("email", "x+bounced@example.com", "delivered"),
        ("sms", "+4477009000010", "delivered"),
        ("sms", "07700900001", "undelivered"),
        ("push", "ADA-NORECEIPT", None),
        ("push", "bounce-ada", "delivered"),
    ],
)
def test_only_the_documented_suffix_counts(channel, recipient, expected):
    outcome = outcome_for(channel, recipient)

    assert (outcome.status if outcome else None) == expected


# --- delay, flush, batching ---


async def test_a_receipt_waits_for_its_delay_and_flush_sends_it_now(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS)

    message_id = await send(sandbox, "sms", "+447451277972")
    [scheduled] = await receipts(sandbox)

    assert (scheduled["state"], scheduled["attempts"], scheduled["occurred_at"]) == ("scheduled", 0, None)
    assert receiver.received == []
    assert await flush(sandbox) == 1
    [event] = (await receiver.next()).events
    assert event["message_id"] == message_id
    [sent] = await settled(sandbox, 1, "sent")
    assert sent["occurred_at"] == event["occurred_at"]
    assert sent["delivery_id"] == receiver.received[0].headers["X-Sandbox-Delivery"]


async def test_the_delay_can_be_changed_at_run_time_for_later_receipts(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=0)
    await set_delay(sandbox, HOLD_MS)
    held_id = await send(sandbox, "sms", "+447451277972")
    await set_delay(sandbox, 0)
    prompt_id = await send(sandbox, "sms", "+447451277973")

    [event] = (await receiver.next()).events

    assert event["message_id"] == prompt_id
    states = {entry["message_id"]: entry["state"] for entry in await receipts(sandbox)}
    assert states[held_id] == "scheduled"
    assert states[prompt_id] in ("sending", "sent")


async def test_receipts_due_together_go_in_one_batch(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS)
    ids = [await send(sandbox, "sms", f"+4477009001{n:02d}") for n in range(3)]

    assert await flush(sandbox) == 3
    arrived = await receiver.next()

    assert [event["message_id"] for event in arrived.events] == ids
    assert verify(SMS_SECRET, arrived)
    entries = await settled(sandbox, 3, "sent")
    assert len({entry["delivery_id"] for entry in entries}) == 1


async def test_a_batch_holds_at_most_the_batch_size_and_never_mixes_channels(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS, receipt_batch_size=2)
    sms_ids = [await send(sandbox, "sms", f"+4477009001{n:02d}") for n in range(3)]
    email_id = await send(sandbox, "email", "ada@example.com")

    assert await flush(sandbox) == 4
    batches = [await receiver.next() for _ in range(3)]

    by_path = sorted(((b.path, [e["message_id"] for e in b.events]) for b in batches), key=_path_and_size)
    assert by_path == [
        ("/receipts/email", [email_id]),
        ("/receipts/sms", sms_ids[2:]),
        ("/receipts/sms", sms_ids[:2]),
    ]


def _path_and_size(batch: tuple[str, list[str]]) -> tuple[str, int]:
    return batch[0], len(batch[1])


# --- retries and a receiver that is down ---


async def test_a_failing_receiver_gets_the_same_signed_batch_again_until_it_takes_it(make_sandbox, receiver):
    receiver.script = [503, 500]
    sandbox = await make_sandbox(receipt_attempts=3)

    message_id = await send(sandbox, "sms", "+447451277972")
    attempts = [await receiver.next() for _ in range(3)]

    assert len({attempt.body for attempt in attempts}) == 1
    assert len({attempt.headers["X-Sandbox-Delivery"] for attempt in attempts}) == 1
    assert all(verify(SMS_SECRET, attempt) for attempt in attempts)
    [entry] = await settled(sandbox, 1, "sent")
    assert (entry["message_id"], entry["attempts"], entry["last_error"]) == (message_id, 3, "HTTP 500")


async def test_after_the_last_attempt_it_gives_up_and_logs_without_the_address(
    make_sandbox, receiver, caplog
):
    caplog.set_level(logging.INFO, logger="provider_sandbox")
    receiver.script = [503, 503]
    sandbox = await make_sandbox(receipt_attempts=2)

    await send(sandbox, "sms", "+447451277972")

    [entry] = await settled(sandbox, 1, "given_up")
    assert (entry["attempts"], entry["last_error"]) == (2, "HTTP 503")
    assert len(receiver.received) == 2
    assert "given up after 2 attempt(s)" in caplog.text
    assert "447451277972" not in caplog.text
    assert SMS_SECRET not in caplog.text


async def test_a_receiver_that_never_answers_is_timed_out_and_tried_again(make_sandbox, receiver):
    receiver.script = [HANG]
    sandbox = await make_sandbox(receipt_timeout_seconds=0.1)

    await send(sandbox, "email", "ada@example.com")

    [entry] = await settled(sandbox, 1, "sent")
    assert (entry["attempts"], entry["last_error"]) == (2, "no answer within 0.1s")


async def test_a_receiver_that_is_down_does_not_touch_the_sends(make_sandbox):
    nobody = f"http://127.0.0.1:{free_port()}"
    sandbox = await make_sandbox(receipts_url=f"{nobody}/receipts", receipt_attempts=2)

    ids = [await send(sandbox, "sms", "+447451277972") for _ in range(3)]

    assert [message["id"] for message in await messages(sandbox)] == ids
    entries = await settled(sandbox, 3, "given_up")
    assert {entry["last_error"] for entry in entries} == {"connection failed (ClientConnectorError)"}
    assert await send(sandbox, "email", "ada@example.com")


async def test_a_receiver_that_hangs_does_not_hold_up_the_send_answers(make_sandbox, receiver):
    receiver.script = [HANG] * 10
    sandbox = await make_sandbox(receipt_timeout_seconds=60)

    first = await send(sandbox, "sms", "+447451277972")
    await receiver.next()  # the first receipt is now stuck at the receiver
    later = [await send(sandbox, "sms", "+447451277972") for _ in range(3)]

    assert [message["id"] for message in await messages(sandbox)] == [first, *later]


async def test_a_bug_while_sending_gives_the_batch_up_and_leaves_the_sandbox_working(
    make_sandbox, receiver, monkeypatch
):
    def broken(*_args, **_kwargs):
        raise RuntimeError("signing broke")

    monkeypatch.setattr("provider_sandbox.webhooks.signed_headers", broken)
    sandbox = await make_sandbox()

    await send(sandbox, "sms", "+447451277972")

    [entry] = await settled(sandbox, 1, "given_up")
    assert entry["last_error"] == "unexpected error in the sandbox; see its log"
    assert receiver.received == []
    assert await send(sandbox, "sms", "+447451277972")


# --- switched off, and cleared ---


async def test_without_a_receipts_url_no_receipt_is_made(sandbox):
    await send(sandbox, "sms", "+447451277972")

    assert await receipts(sandbox) == []


async def test_a_channel_left_out_of_the_receipt_channels_sends_none(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_channels=("email", "sms"))

    await send(sandbox, "push", "ada-orders")
    sms_id = await send(sandbox, "sms", "+447451277972")

    assert [entry["message_id"] for entry in await receipts(sandbox)] == [sms_id]
    assert [event["message_id"] for event in (await receiver.next()).events] == [sms_id]


async def test_clearing_drops_scheduled_receipts(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS)
    await send(sandbox, "sms", "+447451277972")

    async with sandbox.delete("/_sandbox/receipts") as response:
        assert response.status == 204

    assert await receipts(sandbox) == []
    assert await flush(sandbox) == 0


async def test_receipts_can_be_filtered_by_channel(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_delay_ms=HOLD_MS)
    await send(sandbox, "sms", "+447451277972")
    email_id = await send(sandbox, "email", "ada@example.com")

    assert [entry["message_id"] for entry in await receipts(sandbox, "email")] == [email_id]
    async with sandbox.get("/_sandbox/receipts", params={"channel": "fax"}) as response:
        assert response.status == 400
        assert (await response.json())["field"] == "channel"


# --- the receipt settings ---


async def test_the_settings_show_where_receipts_go_and_never_a_secret(make_sandbox, receiver):
    sandbox = await make_sandbox(receipt_channels=("email", "sms"))

    async with sandbox.get("/_sandbox/receipts/settings") as response:
        shown = await response.json()

    assert shown == {
        "delay_ms": 0,
        "urls": {
            "email": f"{receiver.base_url}/receipts/email",
            "sms": f"{receiver.base_url}/receipts/sms",
            "push": None,
        },
        "inbound_urls": {"sms": f"{receiver.base_url}/inbound/sms"},
        "batch_size": 100,
        "attempts": 3,
        "retry_base_ms": 1,
        "timeout_seconds": 5.0,
    }
    assert not any(secret in str(shown) for secret in (EMAIL_SECRET, SMS_SECRET, PUSH_SECRET))


async def test_putting_a_delay_answers_the_new_settings(make_sandbox):
    sandbox = await make_sandbox()

    shown = await set_delay(sandbox, 2500)

    assert shown["delay_ms"] == 2500


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay_ms": -1}, "delay_ms"),
        ({"delay_ms": HOLD_MS + 1}, "delay_ms"),
        ({"delay_ms": "10"}, "delay_ms"),
        ({"delay_ms": True}, "delay_ms"),
        ({}, "delay_ms"),
        ({"delay_ms": 10, "attempts": 2}, "attempts"),
    ],
)
async def test_a_bad_delay_is_400_naming_the_field(make_sandbox, body, field):
    sandbox = await make_sandbox()

    async with sandbox.put("/_sandbox/receipts/settings", json=body) as response:
        assert response.status == 400
        assert (await response.json())["field"] == field


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]"])
async def test_a_settings_body_that_is_not_an_object_is_400(make_sandbox, raw):
    sandbox = await make_sandbox()

    async with sandbox.put("/_sandbox/receipts/settings", data=raw) as response:
        assert response.status == 400
        assert "JSON object" in (await response.json())["error"]


README = Path(__file__).parents[2] / "provider_sandbox" / "README.md"


def test_the_readme_s_example_signature_is_what_the_recipe_gives():
    readme = README.read_text()
    mac = hmac.new(b"dev-sms-receipt-secret", b"1700000000.[]", hashlib.sha256).hexdigest()

    assert signature("dev-sms-receipt-secret", 1700000000, b"[]") == f"sha256={mac}"
    assert f"`sha256={mac}`" in readme


async def test_the_readme_s_verify_function_accepts_a_real_receipt_and_refuses_a_forged_one(
    make_sandbox, receiver
):
    section = README.read_text().split("### Verifying the signature", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    readme_verify = namespace["verify"]
    sandbox = await make_sandbox()

    await send(sandbox, "push", "ada-orders")
    arrived = await receiver.next()

    assert readme_verify(PUSH_SECRET, arrived.headers, arrived.body)
    assert not readme_verify(EMAIL_SECRET, arrived.headers, arrived.body)
    assert not readme_verify(PUSH_SECRET, arrived.headers, arrived.body + b" ")
    assert not readme_verify(
        PUSH_SECRET, arrived.headers | {"X-Sandbox-Timestamp": "1700000000"}, arrived.body
    )
