"""Idempotency-Key on POST /orders: a retried request never places a second order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from apikit.idempotency import fingerprint
from orders_service.app import create_app
from orders_service.models import IdempotencyRecord
from orders_service.schemas import PlaceOrder
from tests.orders_service.conftest import ADMIN, order_body, order_count, place


async def test_the_same_key_and_body_replays_the_first_answer(client, ada):
    first = await place(client, headers={"Idempotency-Key": "k-1"})
    again = await place(client, headers={"Idempotency-Key": "k-1"})

    assert first.status == again.status == 201
    assert await again.json() == await first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await order_count() == 1


async def test_formatting_of_the_body_does_not_matter(client, ada):
    body = order_body()
    reordered = dict(reversed(list(body.items())))

    await place(client, body, headers={"Idempotency-Key": "k-1"})
    again = await place(client, reordered, headers={"Idempotency-Key": "k-1"})

    assert again.status == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await order_count() == 1


async def test_the_same_key_with_another_body_is_422(client, ada):
    await place(client, headers={"Idempotency-Key": "k-1"})

    response = await place(
        client, order_body(sequencing_type="targeted-sequencing"), headers={"Idempotency-Key": "k-1"}
    )

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/idempotency-key-reused"
    assert await order_count() == 1


def fingerprint_of(body: dict) -> str:
    return fingerprint("POST", "/orders", PlaceOrder.model_validate(body).model_dump(mode="json"))


async def claim_key(key: str, body: dict, *, lock_left: timedelta) -> None:
    """A claim as a request that is still running (or whose holder died) leaves it."""
    await IdempotencyRecord.create(
        principal="admin-1",
        key=key,
        fingerprint=fingerprint_of(body),
        state="in_flight",
        locked_until=datetime.now(UTC) + lock_left,
    )


async def test_a_key_still_in_flight_is_409(client, ada):
    await claim_key("k-1", order_body(), lock_left=timedelta(minutes=1))

    response = await place(client, headers={"Idempotency-Key": "k-1"})

    assert response.status == 409
    assert response.headers["Retry-After"] == "1"
    problem = await response.json()
    assert problem["type"] == "/problems/idempotency-request-in-flight"
    assert await order_count() == 0


async def test_a_stale_claim_is_taken_over(client, ada):
    """A claim whose holder died (its lock ran out) does not block the key forever."""
    await claim_key("k-1", order_body(), lock_left=timedelta(seconds=-1))

    response = await place(client, headers={"Idempotency-Key": "k-1"})

    assert response.status == 201
    assert await order_count() == 1
    assert (await IdempotencyRecord.get(key="k-1")).state == "done"


async def test_concurrent_requests_with_one_key_place_one_order(client, ada):
    responses = await asyncio.gather(
        *(place(client, headers={"Idempotency-Key": "k-race"}) for _ in range(20))
    )

    statuses = sorted(response.status for response in responses)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    created = {(await r.json())["id"] for r in responses if r.status == 201}
    assert len(created) == 1
    assert await order_count() == 1


async def test_a_failed_request_releases_its_key(client, ada):
    failed = await place(client, order_body(user_id="u_nobody"), headers={"Idempotency-Key": "k-1"})
    assert failed.status == 422

    retried = await place(client, order_body(user_id="u_nobody"), headers={"Idempotency-Key": "k-1"})

    assert retried.status == 422
    assert (await retried.json())["type"] == "/problems/unknown-user"
    assert await IdempotencyRecord.filter(key="k-1").count() == 0


async def test_keys_are_scoped_to_the_caller(aiohttp_client, orders_settings, ada):
    one, another = "one-admin-token-0123456789", "another-admin-token-0123"
    settings = orders_settings.model_copy(update={"admin_tokens": SecretStr(f"{one},{another}")})
    client = await aiohttp_client(create_app(settings))

    first = await place(client, headers={"Authorization": f"Bearer {one}", "Idempotency-Key": "k"})
    second = await place(client, headers={"Authorization": f"Bearer {another}", "Idempotency-Key": "k"})

    assert first.status == second.status == 201
    assert (await first.json())["id"] != (await second.json())["id"]


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9"])
async def test_a_malformed_key_is_400(client, ada, key):
    response = await client.post("/orders", json=order_body(), headers={**ADMIN, "Idempotency-Key": key})

    assert response.status == 400
    problem = await response.json()
    assert problem["errors"] == [{"detail": "malformed", "header": "Idempotency-Key"}]
    assert await order_count() == 0


async def test_a_retry_replays_even_when_the_checks_would_now_fail(
    aiohttp_client, client, orders_settings, ada
):
    first = await place(client, order_body(notification_channel="sms"), headers={"Idempotency-Key": "k-1"})
    unreachable = orders_settings.model_copy(update={"gateway_url": "http://127.0.0.1:9"})
    later = await aiohttp_client(
        create_app(unreachable)
    )  # the gateway is gone; the channel cannot be checked

    again = await place(later, order_body(notification_channel="sms"), headers={"Idempotency-Key": "k-1"})

    assert (first.status, again.status) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (await again.json())["id"] == (await first.json())["id"]
