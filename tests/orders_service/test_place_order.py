"""POST /orders: every answer it can give, with its body."""

from __future__ import annotations

import pytest

from orders_service.models import DNAKitOrder
from tests.orders_service.conftest import ADMIN, SHIPPING, SUPPORT, order_body, order_count, place

PROBLEM = "application/problem+json"


async def test_places_an_order_and_answers_201_with_its_location(client, ada):
    response = await place(client, order_body(notification_channel="sms"))

    assert response.status == 201
    order = await response.json()
    assert response.headers["Location"] == f"/orders/{order['id']}"
    assert order["id"].startswith("ord_")
    assert order["user_id"] == "u_ada"
    assert order["sequencing_type"] == "whole-exome-sequencing"
    assert order["status"] == "placed"
    assert order["shipping_info"] == SHIPPING
    assert order["notification"] == {
        "id": None,
        "requested_channel": "sms",
        "channel": None,
        "status": "pending",
        "reason": None,
    }
    assert order["created_at"].endswith("Z")
    stored = await DNAKitOrder.get(id=order["id"])
    assert stored.user_id == "u_ada"
    assert stored.created_at.tzinfo is not None


async def test_the_placed_order_can_be_read_back(client, ada):
    placed = await (await place(client)).json()

    response = await client.get(f"/orders/{placed['id']}", headers=SUPPORT)

    assert response.status == 200
    read = await response.json()
    changes = read.pop("changes")
    assert read == placed
    assert placed["placed_by"] == "token:admin-1"
    assert [(c["kind"], c["actor"]) for c in changes] == [("placed", "token:admin-1")]


async def test_without_a_channel_the_choice_is_left_to_routing(client, ada):
    order = await (await place(client)).json()

    assert order["notification"]["requested_channel"] is None


async def test_shipping_info_is_normalised(client, ada):
    shipping = SHIPPING | {"country": "gb", "city": "  London  "}

    order = await (await place(client, order_body(shipping_info=shipping))).json()

    assert order["shipping_info"]["country"] == "GB"
    assert order["shipping_info"]["city"] == "London"


async def test_an_unknown_user_is_422_naming_the_field(client):
    response = await place(client, order_body(user_id="u_nobody"))

    assert response.status == 422
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"] == "/problems/unknown-user"
    assert problem["status"] == 422
    assert problem["instance"] == "/orders"
    assert problem["errors"] == [{"detail": "No user has the id 'u_nobody'.", "pointer": "#/user_id"}]
    assert await order_count() == 0


async def test_an_unknown_kit_type_is_422_listing_the_kits(client, ada):
    response = await place(client, order_body(sequencing_type="blood-test"))

    assert response.status == 422
    problem = await response.json()
    assert problem["type"] == "/problems/validation-failed"
    [error] = problem["errors"]
    assert error["pointer"] == "#/sequencing_type"
    assert "whole-genome-sequencing" in error["detail"]
    assert await order_count() == 0


@pytest.mark.parametrize(
    ("shipping", "pointer"),
    [
        ({k: v for k, v in SHIPPING.items() if k != "city"}, "#/shipping_info/city"),
        (SHIPPING | {"country": "XX"}, "#/shipping_info/country"),
        (SHIPPING | {"country": "GBR"}, "#/shipping_info/country"),
        (SHIPPING | {"address_lines": []}, "#/shipping_info/address_lines"),
        (SHIPPING | {"address_lines": "12 Example Street"}, "#/shipping_info/address_lines"),
        (SHIPPING | {"postcode": "!!"}, "#/shipping_info/postcode"),
        (SHIPPING | {"recipient_name": "   "}, "#/shipping_info/recipient_name"),
        (SHIPPING | {"phone": "123"}, "#/shipping_info/phone"),
        ("12 Example Street", "#/shipping_info"),
    ],
)
async def test_malformed_shipping_info_is_422_pointing_at_the_field(client, ada, shipping, pointer):
    response = await place(client, order_body(shipping_info=shipping))

    assert response.status == 422
    problem = await response.json()
    assert [error["pointer"] for error in problem["errors"]] == [pointer]
    assert await order_count() == 0


async def test_missing_fields_are_each_reported(client):
    response = await place(client, {})

    assert response.status == 422
    pointers = {error["pointer"] for error in (await response.json())["errors"]}
    assert pointers == {"#/user_id", "#/sequencing_type", "#/shipping_info"}


@pytest.mark.parametrize("field", ["id", "status", "created_at", "notification"])
async def test_server_owned_fields_cannot_be_set(client, ada, field):
    response = await place(client, order_body(**{field: "x"}))

    assert response.status == 422
    problem = await response.json()
    assert problem["errors"] == [{"detail": "Extra inputs are not permitted", "pointer": f"#/{field}"}]
    assert await order_count() == 0


async def test_a_malformed_channel_name_is_422(client, ada):
    response = await place(client, order_body(notification_channel="SMS!"))

    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "#/notification_channel"


async def test_malformed_json_is_400(client):
    response = await client.post(
        "/orders", data=b'{"user_id": ', headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert response.status == 400
    assert response.content_type == PROBLEM
    problem = await response.json()
    assert problem["type"] == "/problems/malformed-request"
    assert problem["detail"].startswith("The body is not valid JSON")


async def test_a_body_that_is_not_utf8_is_400(client):
    response = await client.post(
        "/orders", data=b"\xff\xfe{}", headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert response.status == 400


async def test_a_body_that_is_not_json_is_415(client):
    response = await client.post(
        "/orders",
        data=b"user_id=u_ada",
        headers={**ADMIN, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert response.status == 415
    assert response.headers["Accept-Post"] == "application/json"
    problem = await response.json()
    assert problem["title"] == "Unsupported Media Type"
    assert problem["detail"] == "Send the body as application/json."


async def test_a_body_over_the_limit_is_413(client, orders_settings):
    oversized = order_body(shipping_info=SHIPPING | {"recipient_name": "x" * orders_settings.max_body_bytes})

    response = await place(client, oversized)

    assert response.status == 413
    problem = await response.json()
    assert problem["status"] == 413
    assert problem["detail"] == "The request body is larger than this service accepts."
    assert await order_count() == 0


async def test_no_token_is_401_with_a_challenge(client, ada):
    response = await client.post("/orders", json=order_body())

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders"'
    problem = await response.json()
    assert problem["detail"] == "Send a bearer token in the Authorization header."
    assert await order_count() == 0


@pytest.mark.parametrize("authorization", ["Bearer wrong", "Basic YWRtaW46YWRtaW4=", "Bearer ", "test-admin"])
async def test_a_bad_token_is_401(client, ada, authorization):
    response = await client.post("/orders", json=order_body(), headers={"Authorization": authorization})

    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="orders"')
    assert "wrong" not in await response.text()


async def test_a_read_only_token_is_403(client, ada):
    response = await client.post("/orders", json=order_body(), headers=SUPPORT)

    assert response.status == 403
    problem = await response.json()
    assert problem["detail"] == "This needs one of the roles: admin."
    assert await order_count() == 0


async def test_json_nested_too_deeply_is_400_not_500(client):
    response = await client.post(
        "/orders", data=b"[" * 5000 + b"]" * 5000, headers={**ADMIN, "Content-Type": "application/json"}
    )

    assert response.status == 400
    assert (await response.json())["detail"] == "The body is not valid JSON: nested too deeply."
