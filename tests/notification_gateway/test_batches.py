"""`POST /notify/batch`: one template, many recipients, each accepted or refused on its own."""

from __future__ import annotations

import io
import json

import pytest

from notification_gateway.models import Notification
from notification_gateway.schemas import MAX_BATCH_RECIPIENTS
from tests.notification_gateway.conftest import ADA, GRACE, ORDERS, PLACED

ALAN = {"id": "u_alan", "name": "Alan Turing", "phone_number": "+447911123456"}
NOBODY = {"id": "u_nobody", "name": "No Address"}
WES = {"kit_type": "whole-exome-sequencing"}


async def _batch(client, recipients, key: str | None = None, **overrides):
    headers = ORDERS | ({"Idempotency-Key": key} if key else {})
    body = {"message": PLACED, "recipients": recipients} | overrides
    return await client.post("/notify/batch", json=body, headers=headers)


async def test_each_recipient_gets_its_own_notification(client):
    response = await _batch(
        client, [ADA, GRACE, ALAN], priority="bulk", reference="newsletter-12", attributes=WES
    )

    assert response.status == 202
    body = await response.json()
    assert (body["accepted"], body["refused"]) == (3, 0)
    assert [item["recipient_id"] for item in body["data"]] == ["u_ada", "u_grace", "u_alan"]
    stored = {n.id: n for n in await Notification.all()}
    assert set(stored) == {item["id"] for item in body["data"]}
    by_recipient = {n.recipient_id: n for n in stored.values()}
    assert by_recipient["u_grace"].message == "Hi Grace Hopper, your order has been successfully placed."
    assert by_recipient["u_grace"].channel == "email"  # routed alone: no phone number
    assert {(n.priority, n.reference) for n in stored.values()} == {("bulk", "newsletter-12")}


async def test_a_bad_recipient_is_refused_alone_with_its_problem(client):
    response = await _batch(client, [ADA, NOBODY, GRACE, ADA], channel="email")

    body = await response.json()
    assert response.status == 202
    assert (body["accepted"], body["refused"]) == (2, 2)
    ada, nobody, grace, ada_again = body["data"]
    assert ada["id"]
    assert grace["id"]
    assert ada["problem"] is None
    assert nobody["id"] is None
    assert nobody["problem"] | {"instance": None} == {
        "type": "/problems/recipient-unreachable",
        "title": "The recipient cannot be reached on that channel",
        "status": 422,
        "detail": "The recipient has no usable email for the 'email' channel.",
        "instance": None,
        "errors": [
            {
                "detail": "The recipient has no usable email for the 'email' channel.",
                "pointer": "#/recipients/1/email",
            }
        ],
    }
    assert ada_again["problem"]["type"] == "/problems/duplicate-recipient"
    assert ada_again["problem"]["errors"][0]["pointer"] == "#/recipients/3/id"
    assert await Notification.all().count() == 2


async def test_a_recipient_over_its_cap_is_refused_with_its_retry_after(client):
    recipients = [ALAN | {"id": f"u_{n}"} for n in range(12)]  # one phone number: sms=10/hour

    body = await (await _batch(client, recipients, channel="sms")).json()

    assert (body["accepted"], body["refused"]) == (10, 2)
    refused = body["data"][10]["problem"]
    assert refused["type"] == "/problems/recipient-cap-reached"
    assert refused["retry_after"] > 0


async def test_the_same_batch_key_makes_no_second_notification_for_anyone(client):
    first = await (await _batch(client, [ADA, NOBODY], key="batch-1", channel="email")).json()

    again = await (await _batch(client, [ADA, GRACE], key="batch-1", channel="email")).json()
    other_key = await (await _batch(client, [ADA], key="batch-2", channel="email")).json()

    assert again["data"][0] == first["data"][0] | {"replayed": True}
    assert again["data"][1]["replayed"] is False
    assert again["data"][1]["id"]
    assert other_key["data"][0]["id"] != first["data"][0]["id"]
    assert await Notification.filter(recipient_id="u_ada").count() == 2


@pytest.mark.parametrize(
    ("overrides", "problem_type", "pointer"),
    [
        ({"message": "Hi {nickname}"}, "/problems/template-error", "#/message"),
        ({"channel": "fax"}, "/problems/unknown-channel", "#/channel"),
        ({"send_at": "2099-01-01T00:00:00Z"}, "/problems/send-at-out-of-range", "#/send_at"),
        ({"recipients": []}, "/problems/validation-failed", "#/recipients"),
        ({"recipients": [ADA] * (MAX_BATCH_RECIPIENTS + 1)}, "/problems/validation-failed", "#/recipients"),
        ({"recipients": [{"id": "u_x"}]}, "/problems/validation-failed", "#/recipients/0/name"),
    ],
)
async def test_a_fault_every_recipient_shares_refuses_the_whole_batch(
    client, overrides, problem_type, pointer
):
    response = await _batch(client, overrides.pop("recipients", [ADA, GRACE]), **overrides)

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == problem_type
    assert pointer in [error["pointer"] for error in problem["errors"]]
    assert await Notification.all().count() == 0


async def test_a_thousand_recipients_fit_and_a_body_over_the_limit_is_413(client):
    recipients = [
        {"id": f"u_{n}", "name": f"Reader {n}", "email": f"reader{n}@example.com"} for n in range(1000)
    ]
    padded = {"message": PLACED, "recipients": recipients, "padding": "z" * 1024 * 1024}

    accepted = await _batch(client, recipients, priority="bulk")
    too_big = await client.post(
        "/notify/batch",
        data=io.BytesIO(json.dumps(padded).encode()),
        headers=ORDERS | {"Content-Type": "application/json"},
    )

    assert accepted.status == 202
    assert (await accepted.json())["accepted"] == 1000
    assert too_big.status == 413
    assert (await too_big.json())["type"] == "about:blank"
    assert await Notification.all().count() == 1000


async def test_a_batch_needs_a_caller_token(client):
    response = await client.post("/notify/batch", json={"message": "x", "recipients": [ADA]})

    assert response.status == 401
