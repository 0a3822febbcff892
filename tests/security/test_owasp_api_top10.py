"""OWASP API Security Top 10 (2023), the cases that apply, against the real processes.

Unit suites cover each rule in depth (tests/orders_service, tests/notification_gateway);
here the whole system runs with DEBUG logs, and we check what an attacker or a log
reader would actually see.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import (
    ADMIN,
    ADMIN_TOKEN,
    CALLER_TOKEN,
    EMAIL_PATH,
    SECRET,
    SHIPPING,
    System,
    wait_until,
)

pytestmark = pytest.mark.slow

PHONE = "+447451277972"
TOPIC = "ada-kit-updates-7f3a9c2e"  # as good as a password on ntfy; no pattern recognises it
SECRETS = [ADMIN_TOKEN, CALLER_TOKEN, SECRET, "dev-email-token", "dev-sms-token"]
PERSONAL = [PHONE, "07451277972", "7451277972", "ada@example.com", "grace@example.com", TOPIC]


@pytest.fixture
def noisy_system(unstarted_system: System):
    """The system with DEBUG logs (SQL included), SMS capped at 3 per number per hour, and 40 requests
    per minute: a window no machine, however loaded, answers 60 requests slowly enough to escape."""
    unstarted_system.gateway.env |= {"LOG_LEVEL": "DEBUG", "GATEWAY_RECIPIENT_LIMITS": "sms=3/hour"}
    unstarted_system.orders_env |= {"LOG_LEVEL": "DEBUG", "ORDERS_RATE_LIMIT": "40/minute"}
    unstarted_system.start()
    yield unstarted_system
    unstarted_system.stop()


async def _order(http, system, **extra):
    body = {
        "user_id": "u_ada",
        "sequencing_type": "whole-exome-sequencing",
        "shipping_info": SHIPPING,
    } | extra
    return await http.post(f"{system.orders.url}/orders", json=body, headers=ADMIN)


async def test_nothing_secret_or_personal_reaches_logs_or_error_bodies(http, noisy_system, provider):
    system = noisy_system
    bodies: list[str] = []
    for headers in (
        {},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
    ):
        async with http.post(f"{system.orders.url}/orders", json={}, headers=headers) as response:
            bodies.append(await response.text())
    async with await _order(http, system) as response:
        assert response.status == 201
    async with await _order(http, system, user_id="u_nobody") as response:
        bodies.append(await response.text())
    async with http.post(f"{system.orders.url}/webhooks/notifications", data=b"{}") as response:
        bodies.append(await response.text())
    async with http.post(
        f"{system.gateway.url}/notify",
        json={
            "recipient": {"id": "u_x", "name": "X", "phone_number": PHONE},
            "message": "{bad}",
            "channel": "sms",
        },
        headers={"Authorization": f"Bearer {CALLER_TOKEN}"},
    ) as response:
        bodies.append(await response.text())
    async with http.post(
        f"{system.gateway.url}/notify",
        json={
            "recipient": {"id": "u_ada", "name": "Ada", "push_topic": TOPIC},
            "message": "Your kit has shipped.",
            "channel": "push",
        },
        headers={"Authorization": f"Bearer {CALLER_TOKEN}"},
    ) as response:
        assert response.status == 202
    await wait_until(lambda: _sms_count(provider, 1), "the order's SMS")
    await wait_until(lambda: _count(provider, "push", 1), "the push notification")

    system.stop()
    logs = system.orders.log_path.read_text() + system.gateway.log_path.read_text()
    assert "SELECT" in logs or "INSERT" in logs  # DEBUG really logged the SQL, values included
    for secret in SECRETS + PERSONAL:
        assert secret not in logs, f"{secret!r} leaked into a log"
        for body in bodies:
            assert secret not in body, f"{secret!r} leaked into an error body"
    for body in bodies:
        assert json.loads(body)["status"] >= 400


async def _sms_count(provider, expected: int) -> bool:
    return await _count(provider, "sms", expected)


async def _count(provider, channel: str, expected: int) -> bool:
    return len(await provider.messages(channel)) >= expected


async def test_api4_unrestricted_resource_consumption(http, noisy_system):
    system = noisy_system
    huge = {
        "user_id": "u_ada",
        "sequencing_type": "targeted-sequencing",
        "shipping_info": SHIPPING | {"city": "x" * 20000},
    }
    async with http.post(f"{system.orders.url}/orders", json=huge, headers=ADMIN) as response:
        assert response.status == 413
    async with http.get(f"{system.orders.url}/users/?limit=1000000", headers=ADMIN) as response:
        assert response.status == 400
    statuses = []
    for _ in range(60):
        async with http.get(f"{system.orders.url}/users/?limit=1", headers=ADMIN) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert int(response.headers["Retry-After"]) >= 1
                break
    assert 429 in statuses


async def test_api6_sms_pumping_is_capped_per_number(http, noisy_system, provider):
    system = noisy_system
    accepted = []
    for _ in range(5):
        async with http.post(
            f"{system.gateway.url}/notify",
            json={
                "recipient": {"id": "u_p", "name": "P", "phone_number": PHONE},
                "message": "hi",
                "channel": "sms",
            },
            headers={"Authorization": f"Bearer {CALLER_TOKEN}"},
        ) as response:
            accepted.append(response.status)

    assert accepted == [202, 202, 202, 429, 429]


async def test_api7_callbacks_cannot_be_pointed_elsewhere(http, noisy_system):
    async with http.post(
        f"{noisy_system.gateway.url}/notify",
        json={
            "recipient": {"id": "u_x", "name": "X", "email": "x@example.com"},
            "message": "hi",
            "callback_url": "http://169.254.169.254/latest/meta-data/",
        },
        headers={"Authorization": f"Bearer {CALLER_TOKEN}"},
    ) as response:
        # Delivery goes ahead; the callback is never sent there, and the answer says why.
        assert response.status == 202
        callback = (await response.json())["callback"]
        assert callback["will_be_sent"] is False
        assert callback["reason"].startswith("callback_url must be on an allowed origin")


async def test_api1_and_api5_object_and_function_level_authorization(http, noisy_system):
    system = noisy_system
    async with await _order(http, system) as response:
        order = await response.json()
    reader = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.patch(
        f"{system.orders.url}/orders/{order['id']}", json={"status": "shipped"}
    ) as response:
        assert response.status == 401
    async with http.get(f"{system.orders.url}/users/u_ada", headers=reader) as response:
        assert response.status == 200
    async with http.get(f"{system.gateway.url}{EMAIL_PATH}") as response:
        assert response.status == 404  # the gateway exposes no provider path
