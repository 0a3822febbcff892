"""Provider receipts, confirmed fallback and suppression, through the HTTP API on a real database.

The e-mail and SMS plugins send to a local stand-in provider that answers each
message with its own id; workers run one claim at a time, with a clock the test
moves, so confirmation timers fall due without any sleep.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from notification_gateway.app import create_app
from notification_gateway.confirmation import ConfirmationWorker
from notification_gateway.delivery import DeliveryWorker
from notification_gateway.http_channel import sign_webhook
from notification_gateway.keys import CHANNELS, DELIVERY_METRICS, FLOW, RECEIPTS
from notification_gateway.models import (
    Callback,
    ConfirmationTimer,
    Notification,
    ProviderReceiptRecord,
    Suppression,
)
from notification_gateway.policy import RetryPolicy
from notification_gateway.status import TimerStatus
from tests.notification_gateway.conftest import (
    ADA,
    OPERATOR,
    ORDERS,
    RECEIPT_SECRETS,
    notify,
    notify_body,
)

WGS = {"kit_type": "whole-genome-sequencing"}

CALLER_ORIGIN = "http://127.0.0.1:8080"
CALLER_SECRET = "whsec_b3JkZXJzLWNhbGxiYWNrLXNlY3JldC0wMTIz"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


class Provider:
    """Answers every send `200 {"id": "ref-N"}` and remembers who each went to."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []  # (channel, recipient, reference)

    def next_reference(self) -> str:
        return f"ref-{len(self.sent) + 1}"

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        reference = self.next_reference()
        self.sent.append((request.match_info["channel"], body["recipient"], reference))
        return web.json_response({"id": reference, "status": "sent"})


@pytest.fixture
async def provider(aiohttp_server, monkeypatch) -> Provider:
    stand_in = Provider()
    app = web.Application()
    app.router.add_post("/{channel}", stand_in.handle)
    server = await aiohttp_server(app)
    for channel in ("email", "sms"):
        monkeypatch.setenv(f"{channel.upper()}_API_URL", str(server.make_url(f"/{channel}")))
    return stand_in


@pytest.fixture
async def client(aiohttp_client, gateway_settings, provider):
    settings = gateway_settings.model_copy(  # callbacks are owed (and kept: no sender runs here)
        update={"callback_origins": CALLER_ORIGIN, "webhook_secrets": SecretStr(f"orders:{CALLER_SECRET}")}
    )
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def workers(client):
    """(deliver once, confirm once at a moment): the app's channels and receipt context, no loops."""
    clock = Clock()
    async with aiohttp.ClientSession() as session:
        delivery = DeliveryWorker(
            channels=client.app[CHANNELS],
            session=session,
            policy=RetryPolicy(max_attempts=1),
            metrics=client.app[DELIVERY_METRICS],
            receipts=client.app[RECEIPTS],
            flow=client.app[FLOW],
            concurrency=8,
            lease_seconds=30,
            poll_seconds=1,
            clock=clock,
        )
        confirming = ConfirmationWorker(
            on_requeued=delivery.wake, concurrency=8, lease_seconds=30, poll_seconds=1, clock=clock
        )

        async def deliver() -> None:
            claimed = await delivery.claim(8)
            await asyncio.gather(*(delivery.deliver(n) for n in claimed))

        async def confirm(after_seconds: float) -> None:
            clock.now += timedelta(seconds=after_seconds)
            claimed = await confirming.claim(8)
            await asyncio.gather(*(confirming.process(timer) for timer in claimed))

        yield deliver, confirm


def receipt(channel: str, reference: str, status: str, *, event_id: str | None = None, reason="ok") -> dict:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "type": "receipt",
        "channel": channel,
        "message_id": reference,
        "status": status,
        "reason": reason,
        "occurred_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


async def post_signed(client, channel: str, events: list[dict] | bytes, *, kind="receipts", secret=None):
    body = events if isinstance(events, bytes) else json.dumps(events).encode()
    headers = sign_webhook(secret or RECEIPT_SECRETS[channel], body)
    return await client.post(f"/{kind}/{channel}", data=body, headers=headers)


async def read(client, notification_id: str) -> dict:
    return await (await client.get(f"/notifications/{notification_id}", headers=ORDERS)).json()


async def accepted(client, **body) -> str:
    response = await notify(client, notify_body(**body))
    assert response.status == 202, await response.text()
    return (await response.json())["id"]


def story(notification: dict) -> list[tuple[str, str, str]]:
    return [(e["status"], e["channel"], e["source"]) for e in notification["events"]]


# Receipts move a sent notification forward.


async def test_a_delivered_receipt_completes_a_sent_notification(client, provider, workers):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    await deliver()
    [(_, _, reference)] = provider.sent

    response = await post_signed(client, "sms", [receipt("sms", reference, "delivered")])

    assert response.status == 200
    assert await response.json() == {"received": 1, "applied": 1, "ignored": 0}
    found = await read(client, notification_id)
    assert found["status"] == "delivered"
    assert found["finished_at"] is not None
    assert found["attempts"][0]["provider_reference"] == reference
    assert story(found) == [
        ("queued", "sms", "caller"),
        ("sent", "sms", "worker"),
        ("delivered", "sms", "provider"),
    ]
    assert found["events"][2]["reason"] == "delivered on sms (ok)"


@pytest.mark.parametrize("status", ["undelivered", "bounced"])
async def test_a_failed_receipt_without_a_fallback_is_final(client, provider, workers, status):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    await deliver()

    await post_signed(
        client, "sms", [receipt("sms", provider.sent[0][2], status, reason="handset_unreachable")]
    )

    found = await read(client, notification_id)
    assert found["status"] == status
    assert found["events"][-1]["reason"].startswith(f"{status} on sms (handset_unreachable)")


async def test_a_duplicate_receipt_is_applied_once(client, provider, workers):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    await deliver()
    event = receipt("sms", provider.sent[0][2], "delivered")

    first = await post_signed(client, "sms", [event])
    again = await post_signed(client, "sms", [event])

    assert await first.json() == {"received": 1, "applied": 1, "ignored": 0}
    assert await again.json() == {"received": 1, "applied": 0, "ignored": 1}
    assert len((await read(client, notification_id))["events"]) == 3
    assert await ProviderReceiptRecord.all().count() == 1


async def test_a_late_receipt_never_moves_a_notification_backwards(client, provider, workers):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    await deliver()
    reference = provider.sent[0][2]

    await post_signed(client, "sms", [receipt("sms", reference, "delivered")])
    late = await post_signed(client, "sms", [receipt("sms", reference, "undelivered")])

    assert await late.json() == {"received": 1, "applied": 0, "ignored": 1}
    found = await read(client, notification_id)
    assert found["status"] == "delivered"
    assert [e["status"] for e in found["events"]] == ["queued", "sent", "delivered"]


async def test_receipts_out_of_order_in_one_request_end_at_the_furthest(client, provider, workers):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    await deliver()
    reference = provider.sent[0][2]

    await post_signed(
        client, "sms", [receipt("sms", reference, "delivered"), receipt("sms", reference, "undelivered")]
    )

    assert (await read(client, notification_id))["status"] == "delivered"


async def test_a_receipt_for_an_unknown_reference_is_acknowledged_and_kept(client):
    response = await post_signed(client, "email", [receipt("email", "never-sent-by-us", "delivered")])

    assert response.status == 200
    assert await response.json() == {"received": 1, "applied": 0, "ignored": 1}
    [kept] = await ProviderReceiptRecord.all()
    assert (kept.provider_reference, kept.notification_id) == ("never-sent-by-us", None)


async def test_a_receipt_that_comes_before_the_send_is_recorded_is_applied_when_it_is(
    client, provider, workers
):
    deliver, _ = workers
    notification_id = await accepted(client, channel="sms")
    # The provider answers the send and reports delivery before the worker records the send.
    early = await post_signed(client, "sms", [receipt("sms", provider.next_reference(), "delivered")])
    assert await early.json() == {"received": 1, "applied": 0, "ignored": 1}

    await deliver()

    found = await read(client, notification_id)
    assert found["status"] == "delivered"
    assert story(found)[-2:] == [("sent", "sms", "worker"), ("delivered", "sms", "provider")]
    assert (await ProviderReceiptRecord.get()).notification_id == notification_id


# The signature is the authentication; garbage is a 4xx, never a 500.


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda headers, body: ({}, body), id="unsigned"),
        pytest.param(lambda h, b: (h | {"X-Sandbox-Signature": "sha256=" + "0" * 64}, b), id="wrong"),
        pytest.param(lambda h, b: (h, b.replace(b"delivered", b"bounced")), id="body-changed"),
        pytest.param(lambda h, b: (h | {"X-Sandbox-Timestamp": "not-a-time"}, b), id="bad-timestamp"),
        pytest.param(lambda h, b: (h | {"X-Sandbox-Signature": "sha256=é"}, b), id="not-ascii"),
        pytest.param(
            lambda h, b: (
                sign_webhook(RECEIPT_SECRETS["sms"], b, now=datetime.now(UTC).timestamp() - 301),
                b,
            ),
            id="stale",
        ),
        pytest.param(lambda h, b: (sign_webhook(RECEIPT_SECRETS["email"], b), b), id="other-channel-key"),
    ],
)
async def test_an_unsigned_or_badly_signed_receipt_is_refused(client, tamper):
    body = json.dumps([receipt("sms", "ref-1", "delivered")]).encode()
    headers, body = tamper(sign_webhook(RECEIPT_SECRETS["sms"], body), body)

    response = await client.post("/receipts/sms", data=body, headers=headers)

    assert response.status == 401
    problem = await response.json()
    assert problem["type"] == "/problems/bad-provider-signature"
    assert "WWW-Authenticate" not in response.headers or response.headers["WWW-Authenticate"]
    assert await ProviderReceiptRecord.all().count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 10_000,
        b"",
        b"{",
        b"5",
        b"null",
        b'{"a": 1}',
        b"[1]",
        b'[{"type": "receipt"}]',
        b"\xff\xfe",
        b'["x"]',
        json.dumps([receipt("sms", "ref-1", "lost")]).encode(),
        json.dumps([receipt("sms", "", "delivered")]).encode(),
        json.dumps([receipt("sms", "ref-1", "delivered") | {"occurred_at": "yesterday"}]).encode(),
    ],
)
async def test_a_signed_body_that_is_not_receipts_is_a_400(client, body):
    response = await post_signed(client, "sms", body)

    assert response.status == 400
    assert (await response.json())["type"] == "/problems/unreadable-provider-webhook"


@pytest.mark.parametrize("channel", ["fax", "pigeon", "Not-A-Name"])
async def test_a_channel_without_receipts_has_no_receipt_endpoint(client, channel):
    response = await client.post(f"/receipts/{channel}", data=b"[]", headers=sign_webhook("x", b"[]"))

    assert response.status == 404


# Fallback: on a bad receipt, or when no delivered receipt comes in time.


async def test_a_bounced_email_falls_back_to_sms_and_the_address_is_suppressed(client, provider, workers):
    deliver, _ = workers
    bouncing = ADA | {"email": "ada+bounce@example.com"}
    notification_id = await accepted(  # routed: e-mail, then SMS
        client, recipient=bouncing, attributes=WGS, callback_url=f"{CALLER_ORIGIN}/hooks"
    )
    await deliver()
    email_reference = provider.sent[0][2]

    await post_signed(
        client, "email", [receipt("email", email_reference, "bounced", reason="mailbox_unavailable")]
    )
    hopped = await read(client, notification_id)
    await deliver()
    await post_signed(client, "sms", [receipt("sms", provider.sent[1][2], "delivered")])

    assert (hopped["status"], hopped["channel"]) == ("queued", "sms")
    said = "bounced on email (mailbox_unavailable); the address is now suppressed on email"
    assert [(e["status"], e["source"], e["reason"]) for e in hopped["events"][-2:]] == [
        ("bounced", "provider", said),
        ("queued", "gateway", f"{said}: trying sms"),
    ]
    found = await read(client, notification_id)
    assert [(channel, recipient) for channel, recipient, _ in provider.sent] == [
        ("email", "ada+bounce@example.com"),
        ("sms", "+447451277972"),
    ]
    assert story(found) == [
        ("queued", "email", "caller"),
        ("sent", "email", "worker"),
        ("bounced", "email", "provider"),
        ("queued", "sms", "gateway"),
        ("sent", "sms", "worker"),
        ("delivered", "sms", "provider"),
    ]
    suppressions = await client.get(
        "/suppressions", params={"channel": "email", "address": "ada+bounce@example.com"}, headers=ORDERS
    )
    [entry] = (await suppressions.json())["data"]
    assert (entry["channel"], entry["reason"]) == ("email", "bounced")
    # The caller hears of the hop, with the bounce as its reason; never of a `bounced` that was not final.
    told = [c.payload for c in await Callback.filter(notification_id=notification_id).order_by("id")]
    assert [(c["type"], c["data"]["source"], c["data"]["sequence"]) for c in told] == [
        ("notification.sent", "worker", 2),
        ("notification.fallback", "gateway", 4),
        ("notification.sent", "worker", 5),
        ("notification.delivered", "provider", 6),
    ]
    assert told[1]["data"]["reason"] == f"{said}: trying sms"


async def test_a_late_receipt_for_a_channel_left_behind_is_history_only(client, provider, workers):
    deliver, _ = workers
    notification_id = await accepted(client, attributes=WGS)
    await deliver()
    email_reference = provider.sent[0][2]
    await post_signed(client, "email", [receipt("email", email_reference, "undelivered")])
    await deliver()

    late = await post_signed(client, "email", [receipt("email", email_reference, "delivered")])

    assert await late.json() == {"received": 1, "applied": 0, "ignored": 1}
    found = await read(client, notification_id)
    assert (found["status"], found["channel"]) == ("sent", "sms")
    assert found["events"][-1]["reason"].startswith("late receipt: delivered on email")


async def test_no_delivered_receipt_in_time_falls_back(client, provider, workers):
    deliver, confirm = workers
    notification_id = await accepted(client, attributes=WGS)  # e-mail, confirm within 10m, then SMS
    await deliver()
    [timer] = await ConfirmationTimer.all()

    await confirm(after_seconds=599)
    assert (await read(client, notification_id))["status"] == "sent"
    await confirm(after_seconds=2)

    found = await read(client, notification_id)
    assert (found["status"], found["channel"]) == ("queued", "sms")
    assert found["events"][-1]["reason"] == "no delivered receipt from email within 10m: trying sms"
    assert found["events"][-1]["source"] == "worker"
    assert (await ConfirmationTimer.get(id=timer.id)).status is TimerStatus.DONE
    await deliver()
    assert [channel for channel, _, _ in provider.sent] == ["email", "sms"]


async def test_a_delivered_receipt_in_time_stops_the_timer(client, provider, workers):
    deliver, confirm = workers
    notification_id = await accepted(client, attributes=WGS)
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "delivered")])

    await confirm(after_seconds=3600)

    assert (await read(client, notification_id))["status"] == "delivered"
    assert (await ConfirmationTimer.get()).status is TimerStatus.DONE
    assert len(provider.sent) == 1


async def test_an_explicit_channel_has_no_timer_and_no_fallback(client, provider, workers):
    deliver, confirm = workers
    notification_id = await accepted(client, channel="email")
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "bounced")])

    await confirm(after_seconds=3600)

    assert (await read(client, notification_id))["status"] == "bounced"
    assert await ConfirmationTimer.all().count() == 0
    assert len(provider.sent) == 1


async def test_an_explicit_channel_with_a_requested_fallback_is_confirmed(client, provider, workers):
    deliver, confirm = workers
    notification_id = await accepted(client, channel="email", fallback=["sms"], attributes=WGS)
    await deliver()

    await confirm(after_seconds=601)
    await deliver()

    assert (await read(client, notification_id))["channel"] == "sms"
    assert [channel for channel, _, _ in provider.sent] == ["email", "sms"]


# Suppression and opt-out.


async def test_a_suppressed_address_is_not_sent_to_and_without_a_fallback_ends_suppressed(
    client, provider, workers
):
    deliver, _ = workers
    first = await accepted(client, channel="email")
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "bounced")])

    second = await accepted(client, channel="email")
    await deliver()

    found = await read(client, second)
    assert found["status"] == "suppressed"
    assert found["events"][-1]["reason"] == "the address is suppressed on email (bounced)"
    assert found["attempts"][-1]["outcome"] == "suppressed"
    assert len(provider.sent) == 1
    assert (await read(client, first))["status"] == "bounced"


async def test_a_suppressed_address_goes_on_to_the_fallback(client, provider, workers):
    deliver, _ = workers
    await accepted(client, channel="email")
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "bounced")])

    notification_id = await accepted(client, channel="email", fallback=["sms"])
    await deliver()
    await deliver()

    found = await read(client, notification_id)
    assert (found["status"], found["channel"]) == ("sent", "sms")
    assert story(found)[1:] == [("queued", "sms", "worker"), ("sent", "sms", "worker")]
    assert found["events"][1]["reason"] == "the address is suppressed on email (bounced): trying sms"
    assert [channel for channel, _, _ in provider.sent] == ["email", "sms"]


async def test_three_undelivered_sms_in_a_row_suppress_the_number(client, provider, workers):
    deliver, _ = workers

    async def one(status: str) -> None:
        await accepted(client, channel="sms")
        await deliver()
        await post_signed(client, "sms", [receipt("sms", provider.sent[-1][2], status)])

    for status in ("undelivered", "undelivered", "delivered", "undelivered", "undelivered"):
        await one(status)
    assert await Suppression.filter(suppressed_at__isnull=False).count() == 0  # a delivery resets the run
    await one("undelivered")

    [suppressed] = await Suppression.filter(suppressed_at__isnull=False)
    assert (suppressed.channel, suppressed.reason) == ("sms", "undelivered")
    assert ADA["phone_number"] not in suppressed.address_hash


async def test_stop_opts_a_number_out_and_start_back_in(client, provider, workers):
    deliver, _ = workers

    def inbound(text: str) -> list[dict]:
        return [
            {
                "id": f"in_{uuid.uuid4().hex}",
                "type": "inbound",
                "channel": "sms",
                "from": ADA["phone_number"],
                "text": text,
                "occurred_at": "2026-12-01T10:41:00.000Z",
            }
        ]

    async def lookup() -> list[dict]:
        params = {"channel": "sms", "address": ADA["phone_number"]}
        return (await (await client.get("/suppressions", params=params, headers=ORDERS)).json())["data"]

    stop = await post_signed(client, "sms", inbound(" stop "), kind="inbound")
    [entry] = await lookup()
    notification_id = await accepted(client, channel="sms")
    await deliver()
    chat = await post_signed(client, "sms", inbound("thanks!"), kind="inbound")
    start = await post_signed(client, "sms", inbound("START"), kind="inbound")

    assert await stop.json() == {"received": 1, "applied": 1, "ignored": 0}
    assert entry["reason"] == "opted_out"
    assert (await read(client, notification_id))["status"] == "suppressed"
    assert provider.sent == []
    assert await chat.json() == {"received": 1, "applied": 0, "ignored": 1}
    assert await start.json() == {"received": 1, "applied": 1, "ignored": 0}
    assert await lookup() == []


async def test_inbound_messages_need_the_signature_and_a_channel_that_takes_them(client):
    unsigned = await client.post("/inbound/sms", data=b"[]")
    email = await post_signed(client, "email", b"[]", kind="inbound")

    assert unsigned.status == 401
    assert email.status == 404


async def test_only_an_operator_lifts_a_suppression(client, provider, workers, caplog):
    deliver, _ = workers
    await accepted(client, channel="email")
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "bounced")])
    [suppressed] = await Suppression.all()

    as_caller = await client.delete(f"/suppressions/{suppressed.id}", headers=ORDERS)
    as_operator = await client.delete(f"/suppressions/{suppressed.id}", headers=OPERATOR)
    again = await client.delete(f"/suppressions/{suppressed.id}", headers=OPERATOR)
    await accepted(client, channel="email")
    await deliver()

    assert as_caller.status == 403
    assert as_operator.status == 204
    [lifted] = [r for r in caplog.records if r.getMessage() == "suppression lifted by hand"]
    assert (lifted.suppression, lifted.by) == (suppressed.id, "operator")
    assert again.status == 404
    assert (await again.json())["type"] == "/problems/suppression-not-found"
    assert len(provider.sent) == 2  # sent to again


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"channel": "email"}, 400),
        ({"address": "a@example.com"}, 400),
        ({"channel": "fax", "address": "a@example.com"}, 404),
    ],
)
async def test_suppression_lookups_need_a_channel_and_an_address(client, params, status):
    response = await client.get("/suppressions", params=params, headers=ORDERS)

    assert response.status == status


async def test_an_address_that_is_not_suppressed_has_no_entry(client):
    params = {"channel": "email", "address": "nobody@example.com"}
    response = await client.get("/suppressions", params=params, headers=ORDERS)

    assert await response.json() == {"data": [], "count": 0}


async def test_suppressed_addresses_are_stored_only_as_keyed_hashes(client, provider, workers, logs):
    deliver, _ = workers
    await accepted(client, channel="email")
    await deliver()
    await post_signed(client, "email", [receipt("email", provider.sent[0][2], "bounced")])

    [row] = await Suppression.all().values()
    assert "ada@example.com" not in json.dumps(row, default=str)
    assert "ada@example.com" not in logs.getvalue()
    other_key = (await Notification.get()).id  # any other key gives another hash
    assert client.app[RECEIPTS].rules.address_hash("email", "ada@example.com") == row["address_hash"]
    assert row["address_hash"] != type(client.app[RECEIPTS].rules)(other_key.encode()).address_hash(
        "email", "ada@example.com"
    )
