"""GET /users/ and /users/{id}: users with their orders, paged, in a constant number of queries."""

from __future__ import annotations

import pytest

from orders_service.models import DNAKitOrder, User
from tests.orders_service.conftest import ADMIN, SHIPPING, SUPPORT, place


async def _users_with_orders(users: int, orders_each: int) -> None:
    await User.bulk_create(
        [User(id=f"u_{n:05d}", name=f"User {n}", email=f"user{n}@example.com") for n in range(users)]
    )
    await DNAKitOrder.bulk_create(
        [
            DNAKitOrder(
                id=f"ord_{n:05d}_{k:02d}",
                user_id=f"u_{n:05d}",
                sequencing_type="whole-genome-sequencing",
                shipping_info=SHIPPING,
            )
            for n in range(users)
            for k in range(orders_each)
        ]
    )


async def test_each_user_carries_their_orders(client, ada, grace):
    placed = await (await place(client)).json()

    response = await client.get("/users/", headers=SUPPORT)

    assert response.status == 200
    page = await response.json()
    assert page["count"] == 2
    assert page["next_cursor"] is None
    by_id = {user["id"]: user for user in page["data"]}
    assert by_id["u_ada"]["orders"] == [placed]
    assert by_id["u_ada"]["phone_number"] == "+447451277972"
    assert by_id["u_grace"]["orders"] == []
    assert by_id["u_grace"]["phone_number"] is None


async def test_the_path_without_a_slash_answers_the_same(client, ada):
    with_slash = await (await client.get("/users/", headers=ADMIN)).json()
    without = await client.get("/users", headers=ADMIN)

    assert without.status == 200
    assert await without.json() == with_slash


async def test_an_empty_store_lists_no_users(client):
    page = await (await client.get("/users/", headers=ADMIN)).json()

    assert page == {"data": [], "count": 0, "next_cursor": None}


async def test_pages_follow_the_cursor_without_gaps_or_repeats(client):
    await _users_with_orders(users=7, orders_each=1)
    seen: list[str] = []
    url = "/users/?limit=3"
    counts = []
    while url:
        response = await client.get(url, headers=ADMIN)
        page = await response.json()
        seen += [user["id"] for user in page["data"]]
        counts.append(page["count"])
        if page["next_cursor"]:
            assert response.headers["Link"] == f'</users/?limit=3&cursor={page["next_cursor"]}>; rel="next"'
            url = f"/users/?limit=3&cursor={page['next_cursor']}"
        else:
            assert "Link" not in response.headers
            url = None

    assert seen == [f"u_{n:05d}" for n in range(7)]
    assert counts == [3, 3, 1]


async def test_orders_are_listed_oldest_first(client, ada):
    first = await (await place(client)).json()
    second = await (await place(client)).json()

    [user] = (await (await client.get("/users/", headers=ADMIN)).json())["data"]

    assert [order["id"] for order in user["orders"]] == [first["id"], second["id"]]


async def test_the_query_count_does_not_grow_with_the_page(client, sql_queries):
    await _users_with_orders(users=1, orders_each=1)
    sql_queries.reset()
    assert (await client.get("/users/?limit=100", headers=ADMIN)).status == 200
    one_user = sql_queries.count

    await DNAKitOrder.all().delete()
    await User.all().delete()
    await _users_with_orders(users=100, orders_each=10)
    sql_queries.reset()
    response = await client.get("/users/?limit=100", headers=ADMIN)
    page = await response.json()

    assert page["count"] == 100
    assert sum(len(user["orders"]) for user in page["data"]) == 1000
    assert sql_queries.count == one_user == 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eyJhZnRlciI6IDF9", "cursor"),  # a cursor whose key is not a string
        ("colour=blue", "colour"),
    ],
)
async def test_bad_paging_parameters_are_400(client, query, parameter):
    response = await client.get(f"/users/?{query}", headers=ADMIN)

    assert response.status == 400
    problem = await response.json()
    assert problem["type"] == "/problems/malformed-request"
    assert [error["parameter"] for error in problem["errors"]] == [parameter]


async def test_a_user_is_read_with_their_orders(client, ada):
    placed = await (await place(client)).json()

    response = await client.get("/users/u_ada", headers=SUPPORT)

    assert response.status == 200
    user = await response.json()
    assert user["id"] == "u_ada"
    assert user["name"] == "Ada Lovelace"
    assert user["email"] == "ada@example.com"
    assert user["orders"] == [placed]
    assert user["created_at"].endswith("Z")


async def test_an_unknown_user_is_404(client):
    response = await client.get("/users/u_nobody", headers=ADMIN)

    assert response.status == 404
    problem = await response.json()
    assert problem["type"] == "/problems/user-not-found"
    assert problem["detail"] == "No user has the id 'u_nobody'."


@pytest.mark.parametrize("path", ["/users/", "/users", "/users/u_ada"])
async def test_personal_data_needs_a_token(client, ada, path):
    response = await client.get(path)

    assert response.status == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="orders"'
    assert "ada@example.com" not in await response.text()


async def test_presenters_produce_exactly_the_documented_shapes(client, ada):
    """The hot path builds dicts by hand; they must match the models that document them."""
    from orders_service.presenters import order_view, user_view
    from orders_service.schemas import OrderView, UserView
    from orders_service.users import get_user

    await place(client)
    user = await get_user("u_ada")
    shown = user_view(user)

    assert set(shown) == set(UserView.model_fields)
    assert set(shown["orders"][0]) == set(OrderView.model_fields)
    assert UserView.model_validate(shown).model_dump(mode="json") == shown
    assert OrderView.model_validate(order_view(user.orders[0])).model_dump(mode="json") == shown["orders"][0]
