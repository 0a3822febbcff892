"""Flow control against real processes: a provider outage, a provider asking for a pause, a send rate.

Real gateway processes (two on PostgreSQL, where several share a queue; one on SQLite) and the
provider sandbox. Every figure is counted at the sandbox, from its own request log; nothing here
asserts how fast anything is.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta

import pytest

from notification_gateway.db import gateway_tortoise_config
from tests.e2e.conftest import CALLER, wait_until
from tests.faults.conftest import gateway_environment, notification, report
from tests.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow

MAX_ATTEMPTS = 5
OUTAGE_SECONDS = 60
COOLDOWN_SECONDS = 10
RETRY_AFTER_SECONDS = 10
RATE_PER_SECOND = 5  # slots 200 ms apart: wider than the arrival jitter of a loaded machine
PACED_MESSAGES = 40


def _recipient(n: int) -> dict:
    """Reachable by SMS only: no fallback, so every message waits for SMS."""
    return {"id": f"u_{n}", "name": f"Reader {n}", "phone_number": f"+4474512{n:05d}"}


@pytest.fixture
def start_gateways(database_server, tmp_path, sandbox):
    """Start `count` gateway processes on one database (all stopped afterwards)."""
    url = database_server.database_url("gateway", gateway_tortoise_config, tmp_path)
    started: list[ServiceProcess] = []

    def start(count: int, **settings: str) -> list[ServiceProcess]:
        for _ in range(count):
            port = free_port()
            gateway = ServiceProcess(
                "notification_gateway",
                gateway_environment(url, sandbox.url, port)
                | {"GATEWAY_MAX_ATTEMPTS": str(MAX_ATTEMPTS), "GATEWAY_PLUGINS": "sms"}
                | settings,
                port=port,
                log_path=tmp_path / f"gateway-{len(started)}.log",
            )
            started.append(gateway)
            gateway.start()
        return started[-count:]

    yield start
    for gateway in started:
        gateway.stop()


def _replicas(database_server) -> int:
    return 2 if database_server.kind == "postgres" else 1  # SQLite: one delivering process


async def _notify_all(http, gateways: list[ServiceProcess], count: int, first: int = 0) -> list[str]:
    async def one(n: int) -> str:
        gateway = gateways[n % len(gateways)]
        body = {"recipient": _recipient(n), "message": f"message {n}", "channel": "sms"}
        async with http.post(f"{gateway.url}/notify", json=body, headers=CALLER) as response:
            assert response.status == 202, await response.text()
            return (await response.json())["id"]

    return list(await asyncio.gather(*(one(n) for n in range(first, first + count))))


async def _all_finished(http, gateway: ServiceProcess, within: float) -> None:
    async def none_left() -> bool:
        async with http.get(
            f"{gateway.url}/notifications?status=queued&status=sending&limit=1", headers=CALLER
        ) as response:
            return (await response.json())["count"] == 0

    await wait_until(none_left, "every notification to be finished", within=within)


async def _sms_circuit(http, gateway: ServiceProcess) -> str:
    async with http.get(f"{gateway.url}/channels", headers=CALLER) as response:
        [sms] = (await response.json())["data"]
        return sms["flow"]["circuit"]


async def _sent_by(http, gateway: ServiceProcess) -> int:
    """SMS this gateway process sent, by its own metrics."""
    async with http.get(f"{gateway.url}/metrics") as response:
        text = await response.text()
    line = 'delivery_attempts_total{channel="sms",outcome="sent"} '
    return sum(int(float(row.removeprefix(line))) for row in text.splitlines() if row.startswith(line))


def _at(entry: dict) -> datetime:
    return datetime.fromisoformat(entry["received_at"].replace("Z", "+00:00"))


def _most_in_any_window(times: list[datetime], window: timedelta) -> int:
    """The most arrivals in any `window`-long span [t, t + window) starting at an arrival."""
    times = sorted(times)
    most, start = 0, 0
    for end, time in enumerate(times):
        while time - times[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.parametrize("outage_seconds", [OUTAGE_SECONDS])
async def test_an_sms_outage_opens_the_breaker_and_every_message_keeps_its_budget(
    http, start_gateways, provider, database_server, outage_seconds
):
    replicas = _replicas(database_server)
    gateways = start_gateways(
        replicas,
        GATEWAY_BREAKERS="sms=5/60s",
        GATEWAY_BREAKER_COOLDOWN_SECONDS=str(COOLDOWN_SECONDS),
        GATEWAY_DELIVERY_CONCURRENCY="8",
    )
    await provider.faults("sms", status=503)  # the provider is down
    ids = await _notify_all(http, gateways, 40)

    await wait_until(lambda: _circuit_is(http, gateways, "open"), "the SMS circuit to open")
    await asyncio.sleep(outage_seconds)
    during = await provider.requests("sms")
    await provider.faults("sms")  # the provider is back
    await _all_finished(http, gateways[0], within=outage_seconds + 60)

    finals = [await notification(http, gateways[0], i) for i in ids]
    counted = [sum(a["counted"] for a in final["attempts"]) for final in finals]
    probes = sum(not a["counted"] for final in finals for a in final["attempts"])
    delivered = Counter(m["message"] for m in await provider.messages("sms"))
    assert {final["status"] for final in finals} == {"sent"}
    assert max(counted) <= MAX_ATTEMPTS
    assert set(delivered) == {f"message {n}" for n in range(40)}
    assert max(delivered.values()) == 1
    # Without the breaker every message would have spent its five attempts within seconds.
    assert len(during) < 40 * MAX_ATTEMPTS
    assert await _sms_circuit(http, gateways[-1]) == "closed"
    report(
        "sms-outage-breaker",
        database_server.kind,
        {
            "replicas": replicas,
            "outage_seconds": outage_seconds,
            "messages": len(ids),
            "delivered": sum(delivered.values()),
            "provider_requests_during_outage": len(during),
            "failed_probes": probes,
            "most_counted_attempts_of_one_message": max(counted),
            "attempt_budget": MAX_ATTEMPTS,
            "counted_attempts_total": sum(counted),
        },
    )


async def _circuit_is(http, gateways: list[ServiceProcess], state: str) -> bool:
    return all([await _sms_circuit(http, gateway) == state for gateway in gateways])


async def test_a_retry_after_pauses_the_channel_in_every_replica(
    http, start_gateways, provider, database_server
):
    replicas = _replicas(database_server)
    concurrency = 2
    await provider.faults(
        "sms", latency_ms=50, queue=[{"status": 429, "retry_after": str(RETRY_AFTER_SECONDS)}]
    )
    gateways = start_gateways(replicas, GATEWAY_DELIVERY_CONCURRENCY=str(concurrency))
    ids = await _notify_all(http, gateways, 40)
    await _all_finished(http, gateways[0], within=RETRY_AFTER_SECONDS + 60)

    requests = await provider.requests("sms")
    [asked] = [r for r in requests if r["status"] == 429]
    paused = [
        r for r in requests if _at(asked) < _at(r) < _at(asked) + timedelta(seconds=RETRY_AFTER_SECONDS)
    ]
    finals = [await notification(http, gateways[0], i) for i in ids]
    [told] = [f for f in finals if any(a["provider_status"] == 429 for a in f["attempts"])]
    assert [(a["provider_status"], a["counted"]) for a in told["attempts"]] == [(429, False), (200, True)]
    assert {f["status"] for f in finals} == {"sent"}
    assert len(await provider.messages("sms")) == 40
    by_replica = [await _sent_by(http, gateway) for gateway in gateways]
    assert min(by_replica) > 0
    # Only sends already under way when the provider answered may arrive during the pause.
    assert len(paused) <= replicas * concurrency
    report(
        "retry-after-pause",
        database_server.kind,
        {
            "replicas": replicas,
            "retry_after_seconds": RETRY_AFTER_SECONDS,
            "requests_during_pause": len(paused),
            "in_flight_bound": replicas * concurrency,
            "sent_by_each_replica": by_replica,
            "requests_after_pause": sum(
                _at(r) >= _at(asked) + timedelta(seconds=RETRY_AFTER_SECONDS) for r in requests
            ),
        },
    )


async def _sent_per_window(http, provider, gateways: list[ServiceProcess], first: int) -> tuple[int, float]:
    """Queue the SMS; the most the sandbox got in any one second, and the seconds all took."""
    await provider.reset()
    await _notify_all(http, gateways, PACED_MESSAGES, first)
    await _all_finished(http, gateways[0], within=60)
    times = [_at(r) for r in await provider.requests("sms") if r["outcome"] == "accepted"]
    assert len(times) == PACED_MESSAGES
    return _most_in_any_window(times, timedelta(seconds=1)), (max(times) - min(times)).total_seconds()


async def test_two_replicas_together_stay_within_the_send_rate(
    http, start_gateways, provider, database_server
):
    replicas = _replicas(database_server)
    unpaced = start_gateways(replicas, GATEWAY_DELIVERY_CONCURRENCY="8")
    unpaced_most, unpaced_seconds = await _sent_per_window(http, provider, unpaced, 0)
    for gateway in unpaced:
        gateway.stop()

    paced = start_gateways(
        replicas, GATEWAY_DELIVERY_CONCURRENCY="8", GATEWAY_SEND_RATES=f"sms={RATE_PER_SECOND}/second"
    )
    paced_most, paced_seconds = await _sent_per_window(http, provider, paced, PACED_MESSAGES)
    by_replica = [await _sent_by(http, gateway) for gateway in paced]

    # Slots are 1/rate apart: any second holds at most rate + 1 of them; one more for the jitter
    # between a slot and its arrival at the provider.
    assert paced_most <= RATE_PER_SECOND + 2
    assert unpaced_most > RATE_PER_SECOND + 2  # the same load, unpaced, would break the rate
    assert sum(by_replica) == PACED_MESSAGES
    assert min(by_replica) > 0  # every replica sent its share
    report(
        "send-rate-two-replicas",
        database_server.kind,
        {
            "replicas": replicas,
            "rate_per_second": RATE_PER_SECOND,
            "messages": PACED_MESSAGES,
            "most_in_one_second_paced": paced_most,
            "sent_by_each_replica": by_replica,
            "seconds_paced": round(paced_seconds, 2),
            "most_in_one_second_unpaced": unpaced_most,
            "seconds_unpaced": round(unpaced_seconds, 2),
        },
    )
