"""Reading, listing and retrying notifications; /channels and /routing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notification_gateway.app import create_app
from notification_gateway.models import DeliveryAttempt, Notification
from notification_gateway.settings import DEFAULT_ROUTING_FILE
from notification_gateway.status import AttemptOutcome, NotificationStatus
from tests.notification_gateway.conftest import GRACE, MARKETING, ORDERS, notify, notify_body


async def _accepted(client, **overrides) -> dict:
    return await (await notify(client, notify_body(**overrides))).json()


async def _finish(notification_id: str, status: NotificationStatus, *attempts: AttemptOutcome) -> None:
    """Stand in for a worker: record attempts and a final status."""
    for number, outcome in enumerate(attempts, 1):
        await DeliveryAttempt.create(
            notification_id=notification_id,
            number=number,
            channel="email",
            outcome=outcome,
            provider_status=503 if outcome is AttemptOutcome.RETRYABLE else 200,
            error="provider answered 503" if outcome is AttemptOutcome.RETRYABLE else None,
            started_at=datetime.now(UTC),
            duration_ms=1.5,
        )
    await Notification.filter(id=notification_id).update(
        status=status, attempt_count=len(attempts), finished_at=datetime.now(UTC)
    )


async def test_a_notification_shows_every_attempt(client):
    accepted = await _accepted(client)
    await _finish(accepted["id"], NotificationStatus.SENT, AttemptOutcome.RETRYABLE, AttemptOutcome.SENT)

    response = await client.get(f"/notifications/{accepted['id']}", headers=ORDERS)

    assert response.status == 200
    body = await response.json()
    assert body["status"] == "sent"
    assert body["next_attempt_at"] is None
    assert body["finished_at"] is not None
    assert [(a["number"], a["outcome"], a["provider_status"]) for a in body["attempts"]] == [
        (1, "retryable", 503),
        (2, "sent", 200),
    ]
    assert body["attempts"][0]["error"] == "provider answered 503"


async def test_another_callers_notification_is_not_found(client):
    accepted = await _accepted(client)

    response = await client.get(f"/notifications/{accepted['id']}", headers=MARKETING)

    assert response.status == 404
    problem = await response.json()
    assert problem["type"] == "/problems/notification-not-found"
    assert problem["detail"] == f"No notification has the id {accepted['id']!r}."


@pytest.mark.parametrize("notification_id", ["ntf_missing", "bad%00id", "x" * 41])
async def test_an_unknown_id_is_404(client, notification_id):
    response = await client.get(f"/notifications/{notification_id}", headers=ORDERS)

    assert response.status == 404


async def test_listing_filters_by_status_channel_and_recipient(client):
    sms = await _accepted(client, attributes={"kit_type": "whole-exome-sequencing"})
    email = await _accepted(client)
    grace = await _accepted(client, recipient=GRACE)
    await _finish(email["id"], NotificationStatus.FAILED, AttemptOutcome.PERMANENT)

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/notifications?{query}", headers=ORDERS)
        assert response.status == 200
        return [n["id"] for n in (await response.json())["data"]]

    assert await ids("") == [grace["id"], email["id"], sms["id"]]
    assert await ids("status=failed") == [email["id"]]
    assert await ids("status=failed&status=queued") == [grace["id"], email["id"], sms["id"]]
    assert await ids("channel=sms") == [sms["id"]]
    assert await ids("recipient_id=u_grace") == [grace["id"]]
    assert await ids("status=sent") == []


async def test_listing_pages_newest_first_and_only_the_callers_own(client):
    created = [(await _accepted(client))["id"] for _ in range(5)]
    await notify(client, headers=MARKETING)

    seen, url = [], "/notifications?limit=2"
    while url:
        page = await (await client.get(url, headers=ORDERS)).json()
        seen += [n["id"] for n in page["data"]]
        url = f"/notifications?limit=2&cursor={page['next_cursor']}" if page["next_cursor"] else None

    assert seen == list(reversed(created))


@pytest.mark.parametrize(
    "query", ["status=lost", "limit=0", "limit=101", "channel=SMS", "cursor=zzz", "foo=1"]
)
async def test_bad_list_parameters_are_400(client, query):
    response = await client.get(f"/notifications?{query}", headers=ORDERS)

    assert response.status == 400
    assert (await response.json())["type"] == "/problems/malformed-request"


async def test_a_failed_notification_can_be_retried(client):
    accepted = await _accepted(client)
    await _finish(accepted["id"], NotificationStatus.FAILED, AttemptOutcome.PERMANENT)

    response = await client.post(f"/notifications/{accepted['id']}/retry", headers=ORDERS)

    assert response.status == 202
    assert response.headers["Location"] == f"/notifications/{accepted['id']}"
    body = await response.json()
    assert body["status"] == "queued"
    assert body["finished_at"] is None
    assert len(body["attempts"]) == 1  # history is kept
    stored = await Notification.get(id=accepted["id"])
    assert stored.attempts_on_channel == 0


@pytest.mark.parametrize("status", [NotificationStatus.QUEUED, NotificationStatus.SENT])
async def test_only_failed_notifications_can_be_retried(client, status):
    accepted = await _accepted(client)
    if status is NotificationStatus.SENT:
        await _finish(accepted["id"], status, AttemptOutcome.SENT)

    response = await client.post(f"/notifications/{accepted['id']}/retry", headers=ORDERS)

    assert response.status == 409
    problem = await response.json()
    assert problem["type"] == "/problems/not-retryable"
    assert problem["detail"] == f"Only failed notifications can be retried; this one is {status}."


async def test_retrying_another_callers_notification_is_404(client):
    accepted = await _accepted(client)
    await _finish(accepted["id"], NotificationStatus.FAILED, AttemptOutcome.PERMANENT)

    response = await client.post(f"/notifications/{accepted['id']}/retry", headers=MARKETING)

    assert response.status == 404


async def test_channels_lists_each_installed_channel(client):
    response = await client.get("/channels", headers=ORDERS)

    assert response.status == 200
    channels = {c["name"]: c for c in (await response.json())["data"]}
    assert set(channels) == {"email", "sms", "pigeon"}
    assert channels["email"]["recipient_field"] == "email"
    assert channels["sms"]["recipient_field"] == "phone_number"
    assert channels["email"]["plugin"] == "email"
    assert channels["email"]["version"] == "0.1.0"
    assert channels["email"]["receipts"] is True  # it reads receipts and EMAIL_RECEIPT_SECRET is set
    assert channels["pigeon"] == {
        "name": "pigeon",
        "description": "Carrier pigeon (tests only).",
        "recipient_field": "loft",
        "plugin": "pigeon",
        "version": "9.9.9",
        "receipts": False,
        "flow": {
            "circuit": "closed",
            "failures": 0,
            "breaker": "5/60s",
            "opened_at": None,
            "opened_by": None,
            "probe_at": None,
            "paused_until": None,
            "send_rate": None,
        },
    }


async def test_a_channel_whose_receipt_secret_is_unset_says_it_has_no_receipts(
    aiohttp_client, gateway_settings, monkeypatch, caplog
):
    monkeypatch.delenv("SMS_RECEIPT_SECRET")
    client = await aiohttp_client(create_app(gateway_settings))

    channels = {c["name"]: c for c in (await (await client.get("/channels", headers=ORDERS)).json())["data"]}

    assert (channels["email"]["receipts"], channels["sms"]["receipts"]) == (True, False)
    assert "SMS_RECEIPT_SECRET is not set: sms receipts are refused and its notifications stop at sent" in [
        record.getMessage() for record in caplog.records
    ]


async def test_with_no_plugin_allowed_there_are_no_channels_and_notify_says_so(
    aiohttp_client, gateway_settings
):
    settings = gateway_settings.model_copy(update={"plugins": ""})
    client = await aiohttp_client(create_app(settings))

    channels = await (await client.get("/channels", headers=ORDERS)).json()
    explicit = await notify(client, notify_body(channel="email"))
    routed = await notify(client)

    assert channels == {"data": [], "count": 0}
    assert explicit.status == routed.status == 422
    assert (await explicit.json())["detail"] == "No channel is called 'email'. Available: none are installed."
    assert (await routed.json())["detail"] == (
        "No installed channel can reach this recipient (channels: none are installed)."
    )


async def test_the_allow_list_loads_only_the_named_plugins(aiohttp_client, gateway_settings):
    client = await aiohttp_client(create_app(gateway_settings.model_copy(update={"plugins": "sms"})))

    channels = await (await client.get("/channels", headers=ORDERS)).json()

    assert [c["name"] for c in channels["data"]] == ["sms"]


async def test_routing_shows_the_rules_in_force(aiohttp_client, gateway_settings):
    shipped = gateway_settings.model_copy(update={"routing_file": DEFAULT_ROUTING_FILE})
    client = await aiohttp_client(create_app(shipped))

    response = await client.get("/routing", headers=ORDERS)

    assert response.status == 200
    assert await response.json() == {
        "rules": [
            {
                "name": "whole-exome results are time-critical: SMS",
                "when": {"kit_type": "whole-exome-sequencing"},
                "channel": "sms",
                "fallback": None,
                "confirm_within_seconds": 600,
                "critical": False,
            },
            {
                "name": "everything else: e-mail",
                "when": {},
                "channel": "email",
                "fallback": ["sms"],
                "confirm_within_seconds": 600,
                "critical": False,
            },
        ],
        "fallback": ["email"],
        "quiet_hours": {
            "sms": {"start": "21:00", "end": "08:00"},
            "push": {"start": "21:00", "end": "08:00"},
        },
    }


@pytest.mark.parametrize("path", ["/channels", "/routing", "/notifications"])
async def test_reading_needs_a_token(client, path):
    assert (await client.get(path)).status == 401
