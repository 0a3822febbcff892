"""POST /notify: routing, rendering, validation, auth, limits and idempotency."""

from __future__ import annotations

import pytest

from notification_gateway.app import create_app
from notification_gateway.models import Notification
from tests.notification_gateway.conftest import ADA, GRACE, MARKETING, ORDERS, PLACED, notify, notify_body

PROBLEM = "application/problem+json"


async def test_a_notification_is_stored_and_accepted_with_its_location(client):
    response = await notify(client, notify_body(attributes={"kit_type": "whole-exome-sequencing"}))

    assert response.status == 202
    body = await response.json()
    assert response.headers["Location"] == f"/notifications/{body['id']}"
    assert body["id"].startswith("ntf_")
    assert body["status"] == "queued"
    assert body["channel"] == "sms"
    assert body["message"] == "Hi Ada Lovelace, your order has been successfully placed."
    assert body["attempts"] == []
    stored = await Notification.get(id=body["id"])
    assert stored.caller == "orders"
    assert stored.recipient["contacts"] == {"email": "ada@example.com", "phone_number": "+447451277972"}
    assert "ada@example.com" not in await response.text()


@pytest.mark.parametrize(
    ("recipient", "attributes", "channel", "fallbacks"),
    [
        (ADA, {"kit_type": "whole-exome-sequencing"}, "sms", ["email"]),
        (ADA, {"kit_type": "whole-genome-sequencing"}, "email", ["sms"]),
        (ADA, {}, "email", ["sms"]),
        (GRACE, {"kit_type": "whole-exome-sequencing"}, "email", []),  # no phone: falls back
    ],
)
async def test_routing_rules_pick_the_channel(client, recipient, attributes, channel, fallbacks):
    body = await (await notify(client, notify_body(recipient=recipient, attributes=attributes))).json()

    assert (body["channel"], body["fallback_channels"]) == (channel, fallbacks)
    assert body["requested_channel"] is None


async def test_an_explicit_channel_beats_every_rule(client):
    body = await (
        await notify(client, notify_body(channel="email", attributes={"kit_type": "whole-exome-sequencing"}))
    ).json()

    assert body["channel"] == "email"
    assert body["requested_channel"] == "email"


async def test_an_unknown_channel_is_422_naming_the_available_ones(client):
    response = await notify(client, notify_body(channel="carrier-pigeon"))

    assert response.status == 422
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"] == "/problems/unknown-channel"
    assert problem["detail"] == "No channel is called 'carrier-pigeon'. Available: email, pigeon, sms."
    assert problem["errors"][0]["pointer"] == "#/channel"
    assert await Notification.all().count() == 0


async def test_an_explicit_channel_the_recipient_cannot_use_is_422(client):
    response = await notify(client, notify_body(recipient=GRACE, channel="sms"))

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/recipient-unreachable"
    assert problem["errors"][0]["pointer"] == "#/recipient/phone_number"
    assert await Notification.all().count() == 0


async def test_a_malformed_address_does_not_count_as_one(client):
    recipient = {"id": "u_x", "name": "X", "phone_number": "not a number", "email": "nope"}

    response = await notify(client, notify_body(recipient=recipient))

    assert response.status == 422
    assert (await response.json())["type"] == "/problems/recipient-unreachable"


async def test_a_new_channel_needs_only_a_new_contact_field(client, pigeon):
    recipient = {"id": "u_b", "name": "Bird Fancier", "loft": "loft-7"}

    body = await (await notify(client, notify_body(recipient=recipient, channel="pigeon"))).json()

    assert body["channel"] == "pigeon"
    stored = await Notification.get(id=body["id"])
    assert stored.recipient["contacts"] == {"loft": "loft-7"}


@pytest.mark.parametrize(
    ("message", "rendered"),
    [
        ("Hi {user_name}", "Hi Ada Lovelace"),
        ("Order for {user_id}: {kit_type}", "Order for u_ada: whole-exome-sequencing"),
        ("Braces {{like this}}", "Braces {like this}"),
        ("No placeholders", "No placeholders"),
    ],
)
async def test_placeholders_are_filled_from_recipient_and_attributes(client, message, rendered):
    body = await (
        await notify(client, notify_body(message=message, attributes={"kit_type": "whole-exome-sequencing"}))
    ).json()

    assert body["message"] == rendered


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ("Hi {first_name}", "The message names {first_name}, which is not known."),
        ("Hi {user_name.__class__}", "Placeholders are plain names such as {user_name}"),
        ("Hi {user_name!r}", "Placeholders are plain names such as {user_name}"),
        ("Hi {user_name:>99999}", "Placeholders are plain names such as {user_name}"),
        ("Hi {0}", "Placeholders are plain names such as {user_name}"),
        ("Hi {user_name", "The message template is malformed"),
    ],
)
async def test_a_template_that_cannot_be_filled_is_422(client, message, detail):
    response = await notify(client, notify_body(message=message))

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/template-error"
    assert problem["detail"].startswith(detail)
    assert problem["errors"] == [{"detail": problem["detail"], "pointer": "#/message"}]
    assert await Notification.all().count() == 0


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"message": PLACED}, "#/recipient"),
        (notify_body(recipient={"id": "u_1", "email": "a@example.com"}), "#/recipient/name"),
        (notify_body(recipient=ADA | {"Bad-Field": "x"}), "#/recipient"),
        (notify_body(recipient=ADA | {"email": 7}), "#/recipient/email"),
        (notify_body(message=""), "#/message"),
        (notify_body(message="x" * 2001), "#/message"),
        (notify_body(message="bell\u0007"), "#/message"),
        (notify_body(channel="SMS"), "#/channel"),
        (notify_body(attributes={"kit_type": 3}), "#/attributes/kit_type"),
        (notify_body(priority="high"), "#/priority"),
    ],
)
async def test_an_invalid_body_is_422_pointing_at_the_field(client, body, pointer):
    response = await notify(client, body)

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/validation-failed"
    assert pointer in [error["pointer"] for error in problem["errors"]]
    assert await Notification.all().count() == 0


async def test_malformed_json_is_400_and_other_media_types_415(client):
    broken = await client.post("/notify", data=b"{", headers={**ORDERS, "Content-Type": "application/json"})
    form = await client.post("/notify", data=b"a=b", headers={**ORDERS, "Content-Type": "text/plain"})

    assert broken.status == 400
    assert (await broken.json())["type"] == "/problems/malformed-request"
    assert form.status == 415
    assert (await form.json())["detail"] == "Send the body as application/json."


async def test_a_body_over_the_limit_is_413(client, gateway_settings):
    response = await notify(client, notify_body(message="x" * gateway_settings.max_body_bytes))

    assert response.status == 413
    assert (await response.json())["status"] == 413


async def test_callers_must_authenticate(client):
    missing = await client.post("/notify", json=notify_body())
    wrong = await client.post("/notify", json=notify_body(), headers={"Authorization": "Bearer nope"})

    assert missing.status == wrong.status == 401
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="notification-gateway"'
    assert wrong.headers["WWW-Authenticate"].endswith('error="invalid_token"')
    assert (await missing.json())["detail"] == "Send a bearer token in the Authorization header."
    assert await Notification.all().count() == 0


async def test_the_same_idempotency_key_never_makes_a_second_notification(client):
    first = await notify(client, headers={"Idempotency-Key": "order-1"})
    again = await notify(client, headers={"Idempotency-Key": "order-1"})
    other = await notify(client, notify_body(message="Changed"), headers={"Idempotency-Key": "order-1"})

    assert first.status == again.status == 202
    assert (await first.json())["id"] == (await again.json())["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status == 422
    assert (await other.json())["type"] == "/problems/idempotency-key-reused"
    assert await Notification.all().count() == 1


async def test_idempotency_keys_belong_to_each_caller(client):
    await notify(client, headers={"Idempotency-Key": "shared"})
    await notify(client, headers={**MARKETING, "Idempotency-Key": "shared"})

    assert await Notification.all().count() == 2


async def test_each_caller_is_rate_limited_with_retry_after(aiohttp_client, gateway_settings):
    settings = gateway_settings.model_copy(update={"rate_limit": "3/minute"})
    client = await aiohttp_client(create_app(settings))

    statuses = [(await notify(client)).status for _ in range(4)]
    limited = await notify(client)
    other_caller = await notify(client, headers=MARKETING)

    assert statuses == [202, 202, 202, 429]
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) >= 1
    problem = await limited.json()
    assert problem["type"] == "/problems/rate-limited"
    assert problem["detail"].startswith("This caller is limited to 3/minute")
    assert other_caller.status == 202
    assert await Notification.all().count() == 4


async def test_sms_to_one_number_is_capped_across_callers(aiohttp_client, gateway_settings):
    settings = gateway_settings.model_copy(update={"recipient_limits": "sms=2/hour"})
    client = await aiohttp_client(create_app(settings))
    sms = notify_body(channel="sms")

    first, second = await notify(client, sms), await notify(client, sms, headers=MARKETING)
    capped = await notify(client, sms)
    by_email = await notify(client, notify_body(channel="email"))
    other_number = await notify(
        client, notify_body(channel="sms", recipient=ADA | {"phone_number": "+447911123456"})
    )

    assert (first.status, second.status) == (202, 202)
    assert capped.status == 429
    assert 3500 <= int(capped.headers["Retry-After"]) <= 3600
    problem = await capped.json()
    assert problem["type"] == "/problems/recipient-cap-reached"
    assert problem["detail"].startswith("This recipient has reached the cap of 2/hour notifications by sms.")
    assert "+447451277972" not in await capped.text()
    assert (by_email.status, other_number.status) == (202, 202)
    assert await Notification.filter(channel="sms").count() == 3


def test_recipient_caps_are_checked_at_start():
    from notification_gateway.recipient_caps import parse_caps

    caps = parse_caps("sms=5/hour, push=100/day")

    assert (caps["sms"].limit, caps["sms"].window.total_seconds()) == (5, 3600)
    assert caps["push"].window.total_seconds() == 86400
    for bad in ("sms", "sms=lots", "=5/hour"):
        with pytest.raises(ValueError, match=r"sms|lots|hour|not channel"):
            parse_caps(bad)


async def test_concurrent_sms_to_one_number_cannot_overshoot_the_cap(aiohttp_client, gateway_settings):
    import asyncio

    settings = gateway_settings.model_copy(update={"recipient_limits": "sms=3/hour"})
    client = await aiohttp_client(create_app(settings))

    answers = await asyncio.gather(*(notify(client, notify_body(channel="sms")) for _ in range(12)))

    assert sorted(answer.status for answer in answers) == [202] * 3 + [429] * 9
    assert await Notification.filter(channel="sms").count() == 3
