"""The demo seed is idempotent."""

from __future__ import annotations

from orders_service.models import User
from orders_service.seed import DEMO_USERS, seed_demo_users


async def test_seeding_twice_creates_the_demo_users_once(client):
    first = await seed_demo_users("GB")
    second = await seed_demo_users("GB")

    assert (first, second) == (len(DEMO_USERS), 0)
    assert await User.all().count() == len(DEMO_USERS)


async def test_demo_users_include_some_without_a_phone(client):
    await seed_demo_users("GB")

    phones = [user.phone_number for user in await User.all().order_by("id")]

    assert None in phones
    assert all(phone is None or phone.startswith("+44") for phone in phones)
    ada = await User.get(id="u_ada")
    assert ada.phone_number == "+447451277972"  # "07451 277972" in E.164
