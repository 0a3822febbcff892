"""What the sandbox records, read back over HTTP: messages, the request log, filters and clearing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.provider_sandbox.conftest import (
    ADA_EMAIL,
    ADA_SMS,
    EMAIL_PATH,
    PUSH_AUTH,
    SMS_PATH,
    TOKENS,
    messages,
    requests_log,
    send_email,
    send_sms,
    set_faults,
)


def _is_utc_iso(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() == UTC.utcoffset(None)


async def test_an_accepted_message_is_recorded_with_the_id_it_was_answered_with(sandbox):
    _, answer = await send_sms(sandbox)

    [recorded] = await messages(sandbox)

    assert recorded.pop("received_at")
    assert recorded == {
        "id": answer["id"],
        "channel": "sms",
        "recipient": ADA_SMS["recipient"],
        "message": ADA_SMS["message"],
        "title": None,
    }


async def test_a_push_is_recorded_with_its_topic_and_title(sandbox):
    async with sandbox.post("/push/orders-ada", data=b"Placed.", headers={"Title": "DNA kit"}) as response:
        answer = await response.json()

    [recorded] = await messages(sandbox, "push")

    assert recorded["id"] == answer["id"]
    assert recorded["recipient"] == "orders-ada"
    assert (recorded["message"], recorded["title"]) == ("Placed.", "DNA kit")


async def test_received_at_is_iso_8601_utc(sandbox):
    await send_email(sandbox)

    [message] = await messages(sandbox)
    [request] = await requests_log(sandbox)

    assert _is_utc_iso(message["received_at"])
    assert _is_utc_iso(request["received_at"])


async def test_messages_are_listed_in_arrival_order_and_filtered_by_channel(sandbox):
    await send_sms(sandbox, ADA_SMS | {"message": "first"})
    await send_email(sandbox, ADA_EMAIL | {"message": "second"})
    await send_sms(sandbox, ADA_SMS | {"message": "third"})

    assert [m["message"] for m in await messages(sandbox)] == ["first", "second", "third"]
    assert [m["message"] for m in await messages(sandbox, "sms")] == ["first", "third"]
    assert [m["message"] for m in await messages(sandbox, "email")] == ["second"]
    assert await messages(sandbox, "push") == []


async def test_rejected_requests_are_logged_but_not_recorded_as_messages(sandbox):
    await send_sms(sandbox)
    async with sandbox.post(SMS_PATH, json=ADA_SMS) as response:
        assert response.status == 401
    await send_sms(sandbox, ADA_SMS | {"recipient": "not a number"})
    async with sandbox.post(EMAIL_PATH, data=b"text", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 401

    log = await requests_log(sandbox)

    assert [(r["channel"], r["outcome"], r["status"]) for r in log] == [
        ("sms", "accepted", 200),
        ("sms", "rejected", 401),
        ("sms", "rejected", 400),
        ("email", "rejected", 401),
    ]
    assert {tuple(sorted(r)) for r in log} == {("channel", "outcome", "received_at", "status")}
    assert len(await requests_log(sandbox, "sms")) == 3
    assert len(await messages(sandbox)) == 1


@pytest.mark.parametrize("path", ["/_sandbox/messages", "/_sandbox/requests"])
async def test_an_unknown_channel_filter_is_400(sandbox, path):
    async with sandbox.get(path, params={"channel": "fax"}) as response:
        assert response.status == 400
        assert (await response.json())["field"] == "channel"


async def test_clearing_forgets_messages_and_the_request_log(sandbox):
    await send_sms(sandbox)
    async with sandbox.post(SMS_PATH, json=ADA_SMS) as response:
        assert response.status == 401

    async with sandbox.delete("/_sandbox/messages") as response:
        assert response.status == 204

    assert await messages(sandbox) == []
    assert await requests_log(sandbox) == []
    await send_email(sandbox)
    assert len(await messages(sandbox)) == 1


async def test_no_token_is_ever_answered_or_recorded(guarded_sandbox):
    """Correct, wrong and cross-channel tokens: none shows up in any answer or in either log."""
    sandbox = guarded_sandbox
    bodies = []
    for path, token in [(EMAIL_PATH, t) for t in (*TOKENS, "wrong")] + [(SMS_PATH, t) for t in TOKENS]:
        body = ADA_EMAIL if path == EMAIL_PATH else ADA_SMS
        async with sandbox.post(path, json=body, headers={"Authorization": f"Bearer {token}"}) as response:
            bodies.append(await response.text())
            bodies.append(str(response.headers))
    for headers in ({}, PUSH_AUTH, {"Authorization": f"Bearer {TOKENS[0]}"}):
        async with sandbox.post("/push/orders", data=b"Placed.", headers=headers) as response:
            bodies.append(await response.text())
            bodies.append(str(response.headers))
    await set_faults(sandbox, "sms", {"queue": [{"status": 503}]})
    await send_sms(sandbox)
    for path in ("/_sandbox/messages", "/_sandbox/requests", "/_sandbox/faults", "/healthz"):
        async with sandbox.get(path) as response:
            bodies.append(await response.text())

    assert len(await messages(sandbox)) == 3
    for text in bodies:
        for secret in (*TOKENS, "wrong"):
            assert secret not in text
