"""`GET /users/?q=`, `POST /users` and `PATCH /users/{id}`: finding users and keeping their contacts."""

from __future__ import annotations

import pytest

from orders_service.models import User
from tests.orders_service.conftest import ADMIN, SUPPORT

ADA = {"name": "Ada Lovelace", "email": "Ada@Example.com", "phone_number": "07451 277972"}
GRACE = {"name": "Grace Hopper", "email": "grace@navy.example", "phone_number": None}


@pytest.fixture
async def people(client) -> dict[str, dict]:
    created = {}
    for body in (
        ADA,
        GRACE,
        {"name": "Alan Turing", "email": "alan@example.com", "phone_number": "+44 7911 123456"},
    ):
        response = await client.post("/users", json=body, headers=ADMIN)
        assert response.status == 201, await response.text()
        created[body["name"]] = await response.json()
    return created


async def _search(client, q: str) -> list[str]:
    response = await client.get("/users/", params={"q": q}, headers=SUPPORT)
    assert response.status == 200, await response.text()
    return [user["name"] for user in (await response.json())["data"]]


async def test_adding_a_user_normalises_the_phone_number_and_answers_201(client):
    response = await client.post("/users", json=ADA, headers=ADMIN)

    assert response.status == 201
    user = await response.json()
    assert response.headers["Location"] == f"/users/{user['id']}"
    assert user["phone_number"] == "+447451277972"
    assert user["email"] == "Ada@example.com"  # the domain is normalised, the local part kept
    assert user["orders"] == []


@pytest.mark.parametrize(
    ("q", "found"),
    [
        ("ada", ["Ada Lovelace"]),
        ("LOVE", ["Ada Lovelace"]),
        ("ovel", ["Ada Lovelace"]),  # part of a name
        ("grace@navy", ["Grace Hopper"]),
        ("07451 277972", ["Ada Lovelace"]),
        ("+44 7451 277972", ["Ada Lovelace"]),
        ("+44 (0)7451-277-972", ["Ada Lovelace"]),
        ("277972", ["Ada Lovelace"]),
        ("07911", ["Alan Turing"]),
        ("example.com", ["Ada Lovelace", "Alan Turing"]),
        ("nobody", []),
    ],
)
async def test_search_by_name_email_or_phone_in_any_common_format(client, people, q, found):
    assert sorted(await _search(client, q)) == found


async def test_search_pages_with_a_cursor(client, people):
    first = await (await client.get("/users/", params={"q": "a", "limit": 2}, headers=ADMIN)).json()
    assert first["count"] == 2
    second = await (
        await client.get(
            "/users/", params={"q": "a", "limit": 2, "cursor": first["next_cursor"]}, headers=ADMIN
        )
    ).json()
    names = [u["name"] for u in first["data"] + second["data"]]
    assert sorted(names) == ["Ada Lovelace", "Alan Turing", "Grace Hopper"]


async def test_an_empty_search_is_a_400(client):
    response = await client.get("/users/", params={"q": ""}, headers=ADMIN)

    assert response.status == 400
    assert (await response.json())["errors"][0]["parameter"] == "q"


@pytest.mark.parametrize("q", ["\x1b\x1c\x00O\x10", "ada\x00", "a\nb"])
async def test_a_search_with_control_characters_is_a_400_not_a_database_error(client, q):
    response = await client.get("/users/", params={"q": q}, headers=ADMIN)

    assert response.status == 400
    assert (await response.json())["errors"][0]["parameter"] == "q"


async def test_adding_a_phone_number_makes_the_user_findable_by_it(client, people):
    grace = people["Grace Hopper"]

    response = await client.patch(
        f"/users/{grace['id']}", json={"phone_number": "+1 202 555 0143"}, headers=ADMIN
    )

    assert response.status == 200
    assert (await response.json())["phone_number"] == "+12025550143"
    assert await _search(client, "(202) 555-0143") == []  # no region: read as a GB number
    assert await _search(client, "+1 202-555-0143") == ["Grace Hopper"]


async def test_a_merge_patch_changes_only_what_it_names_and_null_removes_the_phone(client, people):
    ada = people["Ada Lovelace"]

    response = await client.patch(
        f"/users/{ada['id']}",
        json={
            "phone_number": None,
            "address": {"address_lines": ["1 Road"], "city": "Bath", "postcode": "BA1 1AA", "country": "gb"},
        },
        headers={**ADMIN, "Content-Type": "application/merge-patch+json"},
    )

    user = await response.json()
    assert response.status == 200
    assert user["phone_number"] is None
    assert user["name"] == "Ada Lovelace"
    assert user["address"]["country"] == "GB"
    assert await _search(client, "277972") == []


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"phone_number": "12"}, "#/phone_number"),
        ({"phone_number": "+44 1234"}, "#/phone_number"),
        ({"email": "not-an-address"}, "#/email"),
        ({"name": None}, "#/name"),
        ({"name": ""}, "#/name"),
    ],
)
async def test_a_bad_contact_is_a_422_naming_the_field_and_nothing_changes(client, people, body, pointer):
    ada = people["Ada Lovelace"]

    response = await client.patch(f"/users/{ada['id']}", json=body, headers=ADMIN)

    assert response.status == 422
    assert [e["pointer"] for e in (await response.json())["errors"]] == [pointer]
    stored = await User.get(id=ada["id"])
    assert (stored.name, stored.email, stored.phone_number) == (
        "Ada Lovelace",
        "Ada@example.com",
        "+447451277972",
    )


async def test_a_bad_new_user_is_a_422_and_nothing_is_written(client):
    response = await client.post("/users", json=ADA | {"phone_number": "call me"}, headers=ADMIN)

    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "#/phone_number"
    assert await User.all().count() == 0


async def test_support_cannot_add_or_change_users(client, people):
    ada = people["Ada Lovelace"]

    added = await client.post("/users", json=GRACE, headers=SUPPORT)
    changed = await client.patch(f"/users/{ada['id']}", json={"name": "X"}, headers=SUPPORT)

    assert (added.status, changed.status) == (403, 403)
    assert await User.all().count() == 3


async def test_changing_an_unknown_user_is_a_404(client):
    response = await client.patch("/users/u_nobody", json={"name": "X"}, headers=ADMIN)

    assert response.status == 404


async def test_users_cannot_be_deleted(client, people):
    response = await client.delete(f"/users/{people['Ada Lovelace']['id']}", headers=ADMIN)

    assert response.status == 405
    assert await User.all().count() == 3
