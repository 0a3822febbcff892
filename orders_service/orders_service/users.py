"""Reading users with their orders, in a fixed number of queries whatever the page size."""

from __future__ import annotations

from tortoise.query_utils import Prefetch

from apikit.errors import DomainError
from apikit.ids import is_well_formed
from orders_service.models import DNAKitOrder, User


class UserNotFound(DomainError):
    """No user has the requested id."""


def _with_orders():
    # One query for all the page's orders, oldest first, instead of one per user.
    return Prefetch("orders", queryset=DNAKitOrder.all().order_by("created_at", "id"))


async def list_users(*, limit: int, after: str | None) -> tuple[list[User], str | None]:
    """A page of users ordered by id, and the id to continue after (None on the last page)."""
    query = User.all().order_by("id").limit(limit + 1)
    if after is not None:
        query = query.filter(id__gt=after)
    users = await query.prefetch_related(_with_orders())
    if len(users) > limit:
        return users[:limit], users[limit - 1].id
    return users, None


async def get_user(user_id: str) -> User:
    if not is_well_formed(user_id):
        raise UserNotFound(f"No user has the id {user_id!r}.")
    user = await User.get_or_none(id=user_id).prefetch_related(_with_orders())
    if user is None:
        raise UserNotFound(f"No user has the id {user_id!r}.")
    return user
