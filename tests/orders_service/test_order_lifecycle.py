"""PATCH /orders/{id}: orders move only along the documented lifecycle."""

from __future__ import annotations

import pytest

from orders_service.lifecycle import TRANSITIONS, OrderStatus
from tests.orders_service.conftest import ADMIN, SUPPORT, place

LEGAL = [(before, after) for before, nexts in TRANSITIONS.items() for after in nexts]
ILLEGAL = [
    (before, after)
    for before in OrderStatus
    for after in OrderStatus
    if after not in TRANSITIONS[before] and after != before
]


async def _order_in(client, status: OrderStatus) -> str:
    """Walk a new order along the lifecycle to `status`."""
    order_id = (await (await place(client)).json())["id"]
    path = {
        OrderStatus.PLACED: [],
        OrderStatus.SHIPPED: ["shipped"],
        OrderStatus.DELIVERED: ["shipped", "delivered"],
        OrderStatus.SAMPLE_RECEIVED: ["shipped", "delivered", "sample_received"],
        OrderStatus.COMPLETED: ["shipped", "delivered", "sample_received", "completed"],
        OrderStatus.CANCELLED: ["cancelled"],
    }[status]
    for step in path:
        response = await client.patch(f"/orders/{order_id}", json={"status": step}, headers=ADMIN)
        assert response.status == 200, await response.text()
    return order_id


@pytest.mark.parametrize(("before", "after"), LEGAL)
async def test_a_legal_move_is_applied(client, ada, before, after):
    order_id = await _order_in(client, before)

    response = await client.patch(f"/orders/{order_id}", json={"status": after}, headers=ADMIN)

    assert response.status == 200
    body = await response.json()
    assert body["status"] == after
    assert body["updated_at"] >= body["created_at"]
    assert (await (await client.get(f"/orders/{order_id}", headers=ADMIN)).json())["status"] == after


@pytest.mark.parametrize(("before", "after"), ILLEGAL)
async def test_an_illegal_move_is_409_and_changes_nothing(client, ada, before, after):
    order_id = await _order_in(client, before)

    response = await client.patch(f"/orders/{order_id}", json={"status": after}, headers=ADMIN)

    assert response.status == 409
    problem = await response.json()
    assert problem["type"] == "/problems/illegal-transition"
    assert problem["detail"].startswith(f"An order that is {before} cannot become {after}.")
    assert problem["errors"][0]["pointer"] == "#/status"
    assert (await (await client.get(f"/orders/{order_id}", headers=ADMIN)).json())["status"] == before


async def test_setting_the_current_status_again_is_a_no_op(client, ada):
    order_id = await _order_in(client, OrderStatus.SHIPPED)

    response = await client.patch(f"/orders/{order_id}", json={"status": "shipped"}, headers=ADMIN)

    assert response.status == 200
    assert (await response.json())["status"] == "shipped"


async def test_merge_patch_media_type_is_accepted(client, ada):
    order_id = await _order_in(client, OrderStatus.PLACED)

    response = await client.patch(
        f"/orders/{order_id}",
        data=b'{"status": "cancelled"}',
        headers={**ADMIN, "Content-Type": "application/merge-patch+json"},
    )

    assert response.status == 200
    assert (await response.json())["status"] == "cancelled"


async def test_an_unknown_status_is_422(client, ada):
    order_id = await _order_in(client, OrderStatus.PLACED)

    response = await client.patch(f"/orders/{order_id}", json={"status": "lost"}, headers=ADMIN)

    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "#/status"


@pytest.mark.parametrize("field", ["user_id", "sequencing_type", "notification", "created_at"])
async def test_only_the_status_can_change(client, ada, field):
    order_id = await _order_in(client, OrderStatus.PLACED)

    response = await client.patch(
        f"/orders/{order_id}", json={"status": "shipped", field: "x"}, headers=ADMIN
    )

    assert response.status == 422
    assert (await response.json())["errors"] == [
        {"detail": "Extra inputs are not permitted", "pointer": f"#/{field}"}
    ]
    assert (await (await client.get(f"/orders/{order_id}", headers=ADMIN)).json())["status"] == "placed"


async def test_an_unknown_order_is_404(client):
    for response in (
        await client.get("/orders/ord_missing", headers=ADMIN),
        await client.patch("/orders/ord_missing", json={"status": "shipped"}, headers=ADMIN),
    ):
        assert response.status == 404
        problem = await response.json()
        assert problem["type"] == "/problems/order-not-found"
        assert problem["detail"] == "No order has the id 'ord_missing'."


async def test_support_can_read_but_not_change_orders(client, ada):
    order_id = await _order_in(client, OrderStatus.PLACED)

    assert (await client.get(f"/orders/{order_id}", headers=SUPPORT)).status == 200
    response = await client.patch(f"/orders/{order_id}", json={"status": "shipped"}, headers=SUPPORT)

    assert response.status == 403
    assert (await response.json())["detail"] == "This needs one of the roles: admin."


async def test_reading_an_order_needs_a_token(client, ada):
    order_id = await _order_in(client, OrderStatus.PLACED)

    response = await client.get(f"/orders/{order_id}")

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders"'
