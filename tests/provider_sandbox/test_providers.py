"""The provider endpoints: what they accept, and each way they refuse."""

from __future__ import annotations

import pytest

from provider_sandbox.app import MAX_BODY_BYTES
from tests.provider_sandbox.conftest import (
    ADA_EMAIL,
    ADA_SMS,
    EMAIL_AUTH,
    EMAIL_PATH,
    EMAIL_TOKEN,
    PUSH_AUTH,
    SMS_AUTH,
    SMS_PATH,
    SMS_TOKEN,
    send_email,
    send_sms,
)

JSON_CHANNELS = [
    pytest.param(EMAIL_PATH, EMAIL_AUTH, ADA_EMAIL, id="email"),
    pytest.param(SMS_PATH, SMS_AUTH, ADA_SMS, id="sms"),
]


async def test_an_email_is_sent_and_answered_with_an_id(sandbox):
    status, body = await send_email(sandbox)

    assert status == 200
    assert body["status"] == "sent"
    assert body["id"]


async def test_an_sms_is_sent_and_answered_with_an_id(sandbox):
    status, body = await send_sms(sandbox)

    assert status == 200
    assert body["status"] == "sent"
    assert body["id"]


async def test_every_message_gets_its_own_id(sandbox):
    ids = {(await send_sms(sandbox))[1]["id"] for _ in range(3)}

    assert len(ids) == 3


@pytest.mark.parametrize(("path", "auth", "body"), JSON_CHANNELS)
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-header"),
        pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
        pytest.param({"Authorization": "Basic dXNlcjpwYXNz"}, id="other-scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty-token"),
    ],
)
async def test_a_missing_or_wrong_token_is_401(sandbox, path, auth, body, headers):
    async with sandbox.post(path, json=body, headers=headers) as response:
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in await response.json()


async def test_each_channel_wants_its_own_token(sandbox):
    async with sandbox.post(EMAIL_PATH, json=ADA_EMAIL, headers=SMS_AUTH) as response:
        assert response.status == 401
    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=EMAIL_AUTH) as response:
        assert response.status == 401


async def test_the_bearer_scheme_is_case_insensitive(sandbox):
    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers={"Authorization": f"bearer {SMS_TOKEN}"}) as r:
        assert r.status == 200


@pytest.mark.parametrize(("path", "auth", "body"), JSON_CHANNELS)
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(sandbox, path, auth, body, content_type):
    headers = auth | ({"Content-Type": content_type} if content_type else {})

    async with sandbox.post(path, data=b'{"recipient": "x", "message": "y"}', headers=headers) as response:
        assert response.status == 415
        assert "application/json" in (await response.json())["error"]


@pytest.mark.parametrize(("path", "auth", "body"), JSON_CHANNELS)
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        pytest.param({"recipient": None}, "recipient", id="recipient-missing"),
        pytest.param({"recipient": ""}, "recipient", id="recipient-empty"),
        pytest.param({"recipient": "   "}, "recipient", id="recipient-blank"),
        pytest.param({"recipient": 447451277972}, "recipient", id="recipient-number"),
        pytest.param({"message": None}, "message", id="message-missing"),
        pytest.param({"message": ""}, "message", id="message-empty"),
        pytest.param({"message": ["hi"]}, "message", id="message-list"),
    ],
)
async def test_a_missing_or_empty_field_is_400_naming_it(sandbox, path, auth, body, overrides, field):
    sent = {k: v for k, v in (body | overrides).items() if v is not None}

    async with sandbox.post(path, json=sent, headers=auth) as response:
        assert response.status == 400
        assert (await response.json())["field"] == field


@pytest.mark.parametrize(("path", "auth", "body"), JSON_CHANNELS)
@pytest.mark.parametrize("raw", [b"{not json", b'["a", "list"]', b"null", b'"text"', b"\xff\xfe{}"])
async def test_a_body_that_is_not_a_json_object_is_400(sandbox, path, auth, body, raw):
    headers = auth | {"Content-Type": "application/json"}

    async with sandbox.post(path, data=raw, headers=headers) as response:
        assert response.status == 400
        assert "error" in await response.json()


@pytest.mark.parametrize(
    "recipient", ["ada.example.com", "ada@@example.com", "a@b@c", "@example.com", "ada@", "a da@x"]
)
async def test_an_email_recipient_must_look_like_an_address(sandbox, recipient):
    status, body = await send_email(sandbox, ADA_EMAIL | {"recipient": recipient})

    assert status == 400
    assert body["field"] == "recipient"


@pytest.mark.parametrize(
    "recipient", ["07451 277972", "+44-7451-277972", "123456", "+1234567890123456", "++447451277972", "tel"]
)
async def test_an_sms_recipient_must_be_a_phone_number(sandbox, recipient):
    status, body = await send_sms(sandbox, ADA_SMS | {"recipient": recipient})

    assert status == 400
    assert body["field"] == "recipient"


@pytest.mark.parametrize("recipient", ["+447451277972", "07451277972", "1234567", "123456789012345"])
async def test_sms_recipients_with_7_to_15_digits_are_accepted(sandbox, recipient):
    status, _ = await send_sms(sandbox, ADA_SMS | {"recipient": recipient})

    assert status == 200


@pytest.mark.parametrize(("path", "auth", "body"), JSON_CHANNELS)
async def test_a_body_over_64_kib_is_413(sandbox, path, auth, body):
    huge = body | {"message": "x" * MAX_BODY_BYTES}

    async with sandbox.post(path, json=huge, headers=auth) as response:
        assert response.status == 413
        assert "error" in await response.json()


async def test_push_needs_no_token_when_none_is_configured(sandbox):
    async with sandbox.post("/push/orders-ada", data=b"Your kit order was placed.") as response:
        assert response.status == 200
        body = await response.json()

    assert body["event"] == "message"
    assert body["topic"] == "orders-ada"
    assert body["message"] == "Your kit order was placed."
    assert isinstance(body["time"], int)
    assert body["id"].isalnum()
    assert "title" not in body


@pytest.mark.parametrize("header", ["Title", "X-Title"])
async def test_push_takes_its_title_from_a_header(sandbox, header):
    async with sandbox.post("/push/orders", data=b"Placed.", headers={header: "DNA kit"}) as response:
        assert response.status == 200
        assert (await response.json())["title"] == "DNA kit"


async def test_push_checks_the_token_when_one_is_configured(guarded_sandbox):
    async with guarded_sandbox.post("/push/orders", data=b"Placed.") as response:
        assert response.status == 401
    async with guarded_sandbox.post(
        "/push/orders", data=b"Placed.", headers={"Authorization": f"Bearer {EMAIL_TOKEN}"}
    ) as response:
        assert response.status == 401
    async with guarded_sandbox.post("/push/orders", data=b"Placed.", headers=PUSH_AUTH) as response:
        assert response.status == 200


@pytest.mark.parametrize("topic", ["orders.ada", "x" * 65, "caf%C3%A9"])
async def test_a_malformed_topic_is_400(sandbox, topic):
    async with sandbox.post(f"/push/{topic}", data=b"Placed.") as response:
        assert response.status == 400
        assert (await response.json())["field"] == "topic"


async def test_a_topic_with_a_slash_is_not_a_push_endpoint(sandbox):
    async with sandbox.post("/push/orders/ada", data=b"Placed.") as response:
        assert response.status == 404


@pytest.mark.parametrize("raw", [b"", b"  \n", b"\xff\xfe"])
async def test_a_push_message_must_be_non_empty_utf8(sandbox, raw):
    async with sandbox.post("/push/orders", data=raw) as response:
        assert response.status == 400
        assert (await response.json())["field"] == "message"


async def test_a_push_body_over_64_kib_is_413(sandbox):
    async with sandbox.post("/push/orders", data=b"x" * (MAX_BODY_BYTES + 1)) as response:
        assert response.status == 413


async def test_health(sandbox):
    async with sandbox.get("/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_an_rfc2047_title_is_decoded_as_ntfy_does(sandbox):
    response = await sandbox.post(
        "/push/kits",
        data=b"Your kit shipped.",
        headers={"Title": "=?UTF-8?B?WW91ciBETkEga2l0IPCfp6w=?="},
    )

    assert response.status == 200
    assert (await response.json())["title"] == "Your DNA kit \U0001f9ec"
