"""Injected faults: statuses with Retry-After, connection resets, latency, outages, and their validation.

Latency is checked by behaviour, never by timing thresholds: a delayed
request is still pending after a short wait, while an undelayed one finishes.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.provider_sandbox.conftest import (
    ADA_SMS,
    SMS_AUTH,
    SMS_PATH,
    messages,
    requests_log,
    send_email,
    send_sms,
    set_faults,
)

LONG_MS = 1500  # long enough to be visibly pending after SHORT_WAIT
SHORT_WAIT = 0.2
NO_FAULTS = {"latency_ms": 0, "queue": [], "status": None}


def _outcomes(log):
    return [(entry["outcome"], entry["status"]) for entry in log]


async def test_queued_statuses_are_answered_in_order_then_handling_is_normal(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"status": 503}, {"status": 429, "retry_after": "2"}]})

    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=SMS_AUTH) as response:
        assert response.status == 503
        assert "Retry-After" not in response.headers
        assert (await response.json())["error"] == "Service Unavailable"
    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=SMS_AUTH) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "2"
    status, _ = await send_sms(sandbox)

    assert status == 200
    assert len(await messages(sandbox)) == 1
    assert _outcomes(await requests_log(sandbox)) == [("fault", 503), ("fault", 429), ("accepted", 200)]


async def test_the_queue_shrinks_as_it_is_used(sandbox):
    plan = await set_faults(sandbox, "sms", {"queue": [{"status": 500}, {"reset": True}]})
    assert plan["queue"] == [{"status": 500}, {"reset": True}]

    await send_sms(sandbox)

    async with sandbox.get("/_sandbox/faults/sms") as response:
        assert (await response.json())["queue"] == [{"reset": True}]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("upstream exploded", "text/plain"), ('{"code": "E42"}', "application/json")],
)
async def test_a_queued_status_can_carry_a_raw_body(sandbox, body, content_type):
    await set_faults(sandbox, "sms", {"queue": [{"status": 502, "body": body}]})

    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=SMS_AUTH) as response:
        assert response.status == 502
        assert response.content_type == content_type
        assert await response.text() == body


@pytest.mark.parametrize(("status", "body"), [(200, "{}"), (204, "")])
async def test_a_queued_success_status_records_no_message(sandbox, status, body):
    await set_faults(sandbox, "sms", {"queue": [{"status": status}]})

    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=SMS_AUTH) as response:
        assert response.status == status
        assert await response.text() == body

    assert await messages(sandbox) == []
    assert _outcomes(await requests_log(sandbox)) == [("fault", status)]


async def test_faults_come_before_auth_and_validation(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"status": 503}]})

    async with sandbox.post(SMS_PATH, data=b"garbage") as response:
        assert response.status == 503


async def test_a_reset_closes_the_connection_without_an_answer(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"reset": True}]})

    with pytest.raises(aiohttp.ClientConnectionError):
        await send_sms(sandbox)
    status, _ = await send_sms(sandbox)

    assert status == 200
    assert _outcomes(await requests_log(sandbox)) == [("fault", None), ("accepted", 200)]
    assert len(await messages(sandbox)) == 1


async def test_a_one_off_latency_delays_only_its_request_which_is_then_handled(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"latency_ms": LONG_MS}]})

    delayed = asyncio.create_task(send_sms(sandbox, ADA_SMS | {"message": "delayed"}))
    await asyncio.sleep(SHORT_WAIT)
    assert not delayed.done()
    prompt = await send_sms(sandbox, ADA_SMS | {"message": "prompt"})
    assert not delayed.done()

    assert prompt[0] == 200
    assert (await delayed)[0] == 200
    # Listed in arrival order, though the delayed one finished last.
    assert [m["message"] for m in await messages(sandbox)] == ["delayed", "prompt"]


async def test_a_request_in_flight_when_the_logs_are_cleared_is_not_recorded(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"latency_ms": LONG_MS}]})
    straggler = asyncio.create_task(send_sms(sandbox))
    await asyncio.sleep(SHORT_WAIT)

    async with sandbox.delete("/_sandbox/messages") as response:
        assert response.status == 204
    assert (await straggler)[0] == 200

    assert await messages(sandbox) == []
    assert await requests_log(sandbox) == []


async def test_a_persistent_latency_delays_every_request_on_its_channel_only(sandbox):
    await set_faults(sandbox, "sms", {"latency_ms": LONG_MS})

    first = asyncio.create_task(send_sms(sandbox))
    second = asyncio.create_task(send_sms(sandbox))
    await asyncio.sleep(SHORT_WAIT)
    assert not first.done()
    assert not second.done()
    other_channel = await send_email(sandbox)
    assert not first.done()

    assert other_channel[0] == 200
    assert [(await first)[0], (await second)[0]] == [200, 200]
    assert len(await messages(sandbox, "sms")) == 2


async def test_a_persistent_latency_also_delays_faulted_answers(sandbox):
    await set_faults(sandbox, "sms", {"latency_ms": LONG_MS, "queue": [{"status": 503}]})

    faulted = asyncio.create_task(send_sms(sandbox))
    await asyncio.sleep(SHORT_WAIT)
    assert not faulted.done()

    assert (await faulted)[0] == 503


async def test_a_persistent_status_answers_every_request_after_the_queue(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"status": 429}], "status": 503})

    statuses = [(await send_sms(sandbox))[0] for _ in range(4)]

    assert statuses == [429, 503, 503, 503]
    assert await messages(sandbox) == []
    assert (await send_email(sandbox))[0] == 200


async def test_a_one_off_latency_is_handled_normally_even_during_an_outage(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"latency_ms": 1}], "status": 503})

    assert [(await send_sms(sandbox))[0] for _ in range(2)] == [200, 503]


async def test_clearing_faults_ends_an_outage(sandbox):
    await set_faults(sandbox, "sms", {"status": 503})
    await set_faults(sandbox, "push", {"latency_ms": 5, "queue": [{"reset": True}]})

    async with sandbox.delete("/_sandbox/faults") as response:
        assert response.status == 204

    async with sandbox.get("/_sandbox/faults") as response:
        assert await response.json() == {"email": NO_FAULTS, "sms": NO_FAULTS, "push": NO_FAULTS}
    assert (await send_sms(sandbox))[0] == 200


async def test_putting_an_empty_plan_clears_one_channel(sandbox):
    await set_faults(sandbox, "sms", {"status": 503})
    await set_faults(sandbox, "email", {"status": 500})

    assert await set_faults(sandbox, "sms", {}) == NO_FAULTS

    assert (await send_sms(sandbox))[0] == 200
    assert (await send_email(sandbox))[0] == 500


async def test_faults_are_shown_per_channel(sandbox):
    plan = {
        "latency_ms": 50,
        "queue": [{"status": 429, "retry_after": "2"}, {"latency_ms": 3000}],
        "status": None,
    }
    assert await set_faults(sandbox, "email", plan) == plan

    async with sandbox.get("/_sandbox/faults") as response:
        assert await response.json() == {"email": plan, "sms": NO_FAULTS, "push": NO_FAULTS}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b"not json", None, id="not-json"),
        pytest.param(b"[]", None, id="not-an-object"),
        pytest.param(b'{"latency_ms": -1}', "latency_ms", id="negative-latency"),
        pytest.param(b'{"latency_ms": true}', "latency_ms", id="boolean-latency"),
        pytest.param(b'{"latency_ms": "50"}', "latency_ms", id="string-latency"),
        pytest.param(b'{"latency_ms": 1.5}', "latency_ms", id="fractional-latency"),
        pytest.param(b'{"latency_ms": 3600000}', "latency_ms", id="latency-over-ten-minutes"),
        pytest.param(b'{"status": 99}', "status", id="status-too-low"),
        pytest.param(b'{"status": 600}', "status", id="status-too-high"),
        pytest.param(b'{"status": "503"}', "status", id="string-status"),
        pytest.param(b'{"speed": 1}', "speed", id="unknown-field"),
        pytest.param(b'{"queue": {"status": 503}}', "queue", id="queue-not-a-list"),
        pytest.param(b'{"queue": [503]}', "queue[0]", id="entry-not-an-object"),
        pytest.param(b'{"queue": [{}]}', "queue[0]", id="empty-entry"),
        pytest.param(b'{"queue": [{"reset": false}]}', "queue[0].reset", id="reset-false"),
        pytest.param(
            b'{"queue": [{"reset": true, "status": 503}]}', "queue[0].status", id="reset-and-status"
        ),
        pytest.param(b'{"queue": [{"status": 503}, {"status": 1000}]}', "queue[1].status", id="bad-second"),
        pytest.param(
            b'{"queue": [{"status": 429, "retry_after": ""}]}', "queue[0].retry_after", id="empty-ra"
        ),
        pytest.param(
            b'{"queue": [{"status": 429, "retry_after": "2\\r\\nX-Evil: 1"}]}',
            "queue[0].retry_after",
            id="header-injection",
        ),
        pytest.param(b'{"queue": [{"status": 500, "body": {"a": 1}}]}', "queue[0].body", id="body-not-text"),
        pytest.param(b'{"queue": [{"status": 204, "body": "x"}]}', "queue[0].body", id="body-on-204"),
        pytest.param(b'{"queue": [{"latency_ms": -5}]}', "queue[0].latency_ms", id="negative-one-off"),
    ],
)
async def test_a_nonsensical_plan_is_400_and_changes_nothing(sandbox, body, field):
    await set_faults(sandbox, "sms", {"status": 503})

    async with sandbox.put("/_sandbox/faults/sms", data=body) as response:
        assert response.status == 400
        answer = await response.json()

    assert answer.get("field") == field
    async with sandbox.get("/_sandbox/faults/sms") as response:
        assert (await response.json())["status"] == 503


async def test_a_retry_after_given_as_a_number_is_sent_as_seconds(sandbox):
    await set_faults(sandbox, "sms", {"queue": [{"status": 429, "retry_after": 7}]})

    async with sandbox.post(SMS_PATH, json=ADA_SMS, headers=SMS_AUTH) as response:
        assert response.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/_sandbox/faults/fax"), ("GET", "/_sandbox/faults/fax"), ("GET", "/_sandbox/faults/SMS")],
)
async def test_an_unknown_channel_is_404(sandbox, method, path):
    async with sandbox.request(method, path, json={}) as response:
        assert response.status == 404
        assert "error" in await response.json()
