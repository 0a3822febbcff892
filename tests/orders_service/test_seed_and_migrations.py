"""The demo seed is idempotent; the committed migrations describe the models exactly."""

from __future__ import annotations

from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from orders_service.db import AUTHORING
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


async def test_no_model_change_is_missing_a_migration():
    async with TortoiseContext() as context:
        await context.init(config=AUTHORING)
        changes = await MigrationAutodetector(context.apps, AUTHORING["apps"]).changes()

    assert changes == [], "run `make migrations` and commit the new migration"
