"""`send_at` and quiet hours: both set the notification's due time, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from notification_gateway.app import create_app
from notification_gateway.models import Notification
from notification_gateway.routing import RoutingFileError, RoutingRules
from notification_gateway.scheduling import QuietWindow
from notification_gateway.settings import DEFAULT_ROUTING_FILE, GatewaySettings
from tests.notification_gateway.conftest import ADA, ORDERS, notify_body

LONDON = ZoneInfo("Europe/London")
WES = {"kit_type": "whole-exome-sequencing"}  # an order confirmation the rules send by SMS


def _at(year, month, day, hour, minute, zone=LONDON) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone)


@pytest.fixture
def gateway_settings(gateway_settings):
    """With the shipped routing, quiet hours and all: the clock here is the test's own."""
    return gateway_settings.model_copy(update={"routing_file": DEFAULT_ROUTING_FILE})


@pytest.fixture
def now() -> list[datetime]:
    """What the gateway takes as now; a test sets it."""
    return [datetime(2026, 12, 1, 12, 0, tzinfo=UTC)]


@pytest.fixture
async def client(aiohttp_client, gateway_settings, pigeon, now):
    app = create_app(gateway_settings, extra_plugins=[("pigeon", pigeon)], clock=lambda: now[0])
    return await aiohttp_client(app)


async def _notify(client, **overrides):
    return await client.post("/notify", json=notify_body(**overrides), headers=ORDERS)


async def _accepted(client, **overrides) -> dict:
    response = await _notify(client, **overrides)
    assert response.status == 202, await response.text()
    return await response.json()


async def _due(client, **overrides) -> datetime:
    body = await _accepted(client, **overrides)
    stored = await Notification.get(id=body["id"])
    assert datetime.fromisoformat(body["next_attempt_at"]) == stored.next_attempt_at
    return stored.next_attempt_at


async def test_an_order_placed_at_2330_in_london_waits_by_sms_until_0800(client, now):
    now[0] = _at(2026, 12, 1, 23, 30)

    due = await _due(client, attributes=WES)

    assert due == _at(2026, 12, 2, 8, 0)
    assert due.astimezone(UTC) == datetime(2026, 12, 2, 8, 0, tzinfo=UTC)  # GMT in December


async def test_a_notification_kept_for_quiet_hours_says_so_and_until_when(client, now):
    now[0] = _at(2026, 12, 1, 23, 30)

    [queued] = (await _accepted(client, attributes=WES))["events"]

    assert queued["status"] == "queued"
    assert queued["reason"] == (
        "rule: whole-exome results are time-critical: SMS; "
        "quiet hours: waits until 2026-12-02 08:00 Europe/London time"
    )


async def test_a_notification_due_at_once_gives_only_its_route_as_reason(client, now):
    now[0] = _at(2026, 12, 1, 12, 0)

    [queued] = (await _accepted(client, attributes=WES))["events"]

    assert queued["reason"] == "rule: whole-exome results are time-critical: SMS"


async def test_the_same_order_by_email_is_due_at_once(client, now):
    now[0] = _at(2026, 12, 1, 23, 30)

    assert await _due(client) == now[0]


async def test_a_critical_notification_is_sent_within_quiet_hours(client, now):
    now[0] = _at(2026, 12, 1, 23, 30)

    assert await _due(client, attributes=WES, critical=True) == now[0]


async def test_just_after_midnight_waits_until_the_same_mornings_end(client, now):
    now[0] = _at(2026, 7, 2, 0, 15)

    assert await _due(client, attributes=WES) == _at(2026, 7, 2, 8, 0)  # 07:00 UTC in summer time


async def test_quiet_hours_are_read_in_the_recipients_time_zone(client, now):
    now[0] = _at(2026, 12, 1, 23, 30)  # 18:30 in New York: not quiet there
    new_yorker = ADA | {"timezone": "America/New_York"}

    assert await _due(client, attributes=WES, recipient=new_yorker) == now[0]
    now[0] = _at(2026, 12, 2, 3, 0)  # 22:00 in New York
    due = await _due(client, attributes=WES, recipient=new_yorker)
    assert due == _at(2026, 12, 2, 8, 0, ZoneInfo("America/New_York"))


async def test_an_unknown_time_zone_is_422(client):
    response = await _notify(client, recipient=ADA | {"timezone": "Mars/Olympus_Mons"})

    assert response.status == 422
    [error] = (await response.json())["errors"]
    assert error["pointer"] == "#/recipient/timezone"
    assert "is not an IANA time zone" in error["detail"]


async def test_send_at_is_the_due_time(client, now):
    send_at = now[0] + timedelta(days=2)

    response = await _notify(client, send_at=send_at.isoformat())

    body = await response.json()
    assert datetime.fromisoformat(body["send_at"]) == send_at
    assert datetime.fromisoformat(body["next_attempt_at"]) == send_at
    assert body["events"][0]["reason"].endswith("; held until its send_at")


async def test_send_at_in_the_past_is_due_at_once(client, now):
    assert await _due(client, send_at=(now[0] - timedelta(hours=1)).isoformat()) == now[0]


async def test_send_at_inside_quiet_hours_waits_for_their_end(client, now):
    send_at = _at(2026, 12, 3, 22, 0)

    body = await _accepted(client, attributes=WES, send_at=send_at.isoformat())

    assert datetime.fromisoformat(body["next_attempt_at"]) == _at(2026, 12, 4, 8, 0)
    assert body["events"][0]["reason"].endswith(
        "; held until its send_at; quiet hours: waits until 2026-12-04 08:00 Europe/London time"
    )


async def test_send_at_more_than_30_days_ahead_is_422(client, now):
    response = await _notify(client, send_at=(now[0] + timedelta(days=30, seconds=1)).isoformat())

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/send-at-out-of-range"
    assert problem["errors"] == [{"detail": problem["detail"], "pointer": "#/send_at"}]
    assert await Notification.all().count() == 0
    assert (await _notify(client, send_at=(now[0] + timedelta(days=30)).isoformat())).status == 202


@pytest.mark.parametrize("send_at", ["2026-12-02T10:00:00", "tomorrow", "2026-12-02", 1764676800])
async def test_send_at_must_be_a_time_with_an_offset(client, send_at):
    response = await _notify(client, send_at=send_at)

    assert response.status == 422
    assert [e["pointer"] for e in (await response.json())["errors"]] == ["#/send_at"]


@pytest.mark.parametrize(
    ("start", "end", "moment", "until"),
    [
        (time(21), time(8), time(20, 59), None),
        (time(21), time(8), time(21), "tomorrow 08:00"),
        (time(21), time(8), time(7, 59), "today 08:00"),
        (time(21), time(8), time(8), None),
        (time(12), time(14), time(13), "today 14:00"),
        (time(12), time(14), time(14), None),
    ],
)
def test_a_quiet_window_may_span_midnight(start, end, moment, until):
    day = _at(2026, 3, 10, 0, 0)
    at = datetime.combine(day.date(), moment, tzinfo=LONDON)

    ends = QuietWindow(start, end).ends_at(at, LONDON)

    expected = {
        None: None,
        "today 08:00": _at(2026, 3, 10, 8, 0),
        "tomorrow 08:00": _at(2026, 3, 11, 8, 0),
        "today 14:00": _at(2026, 3, 10, 14, 0),
    }[until]
    assert ends == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[quiet_hours]\nsms = { start = "21:00", end = "21:00" }\n', "quiet_hours.sms: start and end are"),
        ('[quiet_hours]\nsms = { start = "9pm", end = "08:00" }\n', "quiet_hours.sms.start: Input should be"),
        ('[quiet_hours]\nsms = { start = "21:00" }\n', "quiet_hours.sms.end: Field required"),
        (
            '[[rules]]\nchannel = "sms"\ncritical = "no"\n',
            "rule 1, critical: Input should be a valid boolean",
        ),
    ],
)
def test_a_bad_quiet_hours_table_stops_start_up_naming_it(tmp_path, text, message):
    path = tmp_path / "routing.toml"
    path.write_text(text)

    with pytest.raises(RoutingFileError) as raised:
        RoutingRules.load(path)

    assert str(raised.value).startswith(f"{path}: {message}")
    assert "\n" not in str(raised.value)


def test_an_unknown_default_time_zone_is_a_one_line_start_up_error(gateway_settings):
    with pytest.raises(ValidationError) as raised:
        GatewaySettings(**{**_env(gateway_settings), "GATEWAY_DEFAULT_TIMEZONE": "Europe/Londres"})

    [error] = raised.value.errors()
    assert error["loc"] == ("GATEWAY_DEFAULT_TIMEZONE",)
    assert "'Europe/Londres' is not an IANA time zone" in error["msg"]


def _env(settings: GatewaySettings) -> dict:
    return {
        "APP_ENV": "production",
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_CALLERS": settings.callers.get_secret_value(),
    }
