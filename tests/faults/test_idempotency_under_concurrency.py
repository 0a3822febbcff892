"""Fifty simultaneous requests with one `Idempotency-Key` and one body do the work once.

README: the same key and body replay the first answer (same status, body and
`Location`, plus `Idempotent-Replayed: true`); a request with that key still
in flight is 409 with `Retry-After`. Against real processes, so the requests
really race in the service's database (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp
import pytest

from tests.e2e.conftest import wait_until
from tests.faults.conftest import (
    ADA,
    ADMIN,
    CALLER,
    PROBLEM_JSON,
    SHIPPING,
    nothing_pending,
    order_reference,
)

pytestmark = pytest.mark.slow

SIMULTANEOUS = 50


async def _race(http: aiohttp.ClientSession, url: str, body: dict, headers: dict) -> list[dict]:
    """Fire every request at once; each answer as status, headers and parsed body."""
    start = asyncio.Event()

    async def one() -> dict:
        await start.wait()
        async with http.post(url, json=body, headers=headers) as response:
            return {"status": response.status, "headers": response.headers, "body": await response.json()}

    tasks = [asyncio.create_task(one()) for _ in range(SIMULTANEOUS)]
    await asyncio.sleep(0)  # every task is waiting at the start line
    start.set()
    return await asyncio.gather(*tasks)


def _check_answers(answers: list[dict], success: int) -> dict:
    """One first answer; the rest replay it exactly or say 409 with Retry-After. Returns the first."""
    kinds = Counter(
        "first"
        if a["status"] == success and "Idempotent-Replayed" not in a["headers"]
        else "replayed"
        if a["status"] == success
        else a["status"]
        for a in answers
    )
    assert set(kinds) <= {"first", "replayed", 409}, kinds
    assert kinds["first"] == 1, kinds
    [first] = [a for a in answers if a["status"] == success and "Idempotent-Replayed" not in a["headers"]]
    for answer in answers:
        if answer is first:
            continue
        if answer["status"] == success:
            assert answer["headers"]["Idempotent-Replayed"] == "true"
            assert answer["body"] == first["body"]
            assert answer["headers"]["Location"] == first["headers"]["Location"]
        else:
            assert answer["headers"]["Content-Type"].startswith(PROBLEM_JSON)
            assert int(answer["headers"]["Retry-After"]) >= 1
            assert answer["body"]["status"] == 409
    print(f"\n{SIMULTANEOUS} simultaneous requests with one key: {dict(kinds)}")
    return first


async def test_fifty_simultaneous_orders_with_one_key_make_one_order_and_one_message(http, system, provider):
    await system.start(system.gateway)
    await system.start(system.orders)
    body = {"user_id": "u_ada", "sequencing_type": "targeted-sequencing", "shipping_info": SHIPPING}

    answers = await _race(
        http, f"{system.orders.url}/orders", body, ADMIN | {"Idempotency-Key": "one-order-fifty-clicks"}
    )

    first = _check_answers(answers, 201)
    order_id = first["body"]["id"]
    async with http.get(f"{system.orders.url}/users/u_ada", headers=ADMIN) as response:
        assert [order["id"] for order in (await response.json())["orders"]] == [order_id]
    assert await system.orders_db.value("SELECT count(*) AS n FROM outbox_messages") == 1
    await wait_until(
        lambda: _delivered(http, system, order_id), "the order to show its notification delivered"
    )
    assert [order_reference(m) for m in await provider.all_messages()] == [order_id]


async def test_fifty_simultaneous_notifications_with_one_key_make_one_message(http, system, provider):
    await system.start(system.gateway)
    body = {"recipient": ADA, "message": "Hi {user_name}, only once please."}

    answers = await _race(
        http, f"{system.gateway.url}/notify", body, CALLER | {"Idempotency-Key": "one-notification"}
    )

    first = _check_answers(answers, 202)
    await wait_until(lambda: nothing_pending(http, system.gateway, CALLER), "the notification to be sent")
    async with http.get(f"{system.gateway.url}/notifications", headers=CALLER) as response:
        listing = await response.json()
    assert [(n["id"], n["status"]) for n in listing["data"]] == [(first["body"]["id"], "sent")]
    assert [m["message"] for m in await provider.all_messages()] == ["Hi Ada Lovelace, only once please."]


async def _delivered(http, system, order_id: str) -> bool:
    async with http.get(f"{system.orders.url}/orders/{order_id}", headers=ADMIN) as response:
        return (await response.json())["notification"]["status"] == "sent"
