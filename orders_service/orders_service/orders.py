"""Placing orders and moving them along their lifecycle. Raises domain errors, never HTTP ones."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.query_utils import Prefetch

from apikit.database import transaction
from apikit.errors import DomainError
from apikit.ids import is_well_formed
from apikit.inserts import Insert
from apikit.lookups import Lookup
from orders_service.lifecycle import OrderChangeKind, OrderStatus, allowed_next
from orders_service.models import DNAKitOrder, OrderChange, User
from orders_service.notifications import NotificationService
from orders_service.schemas import OrderQuery, PlaceOrder

USER_BY_ID = Lookup(User, "id")  # every order looks its user up: the SQL is written once
INSERT_ORDER = Insert(DNAKitOrder)  # and inserts the order and its "placed" change
INSERT_CHANGE = Insert(OrderChange)


class UnknownUser(DomainError):
    """The order names a user who does not exist."""


class OrderNotFound(DomainError):
    """No order has the requested id."""


class IllegalTransition(DomainError):
    """The lifecycle does not allow the requested status change."""


async def check_order(command: PlaceOrder, *, notifications: NotificationService) -> User:
    """Refuse what can be refused before anything is written (an unknown user, an unusable
    channel), outside the transaction, which on SQLite holds the only connection. Returns the user."""
    user = await USER_BY_ID.get_or_none(command.user_id)
    if user is None:
        raise UnknownUser(f"No user has the id {command.user_id!r}.", pointer="#/user_id")
    if command.notification_channel is not None:
        await notifications.check_channel(
            user, command.notification_channel, pointer="#/notification_channel"
        )
    return user


def order_placed_message(order: DNAKitOrder) -> str:
    return f"Hi {{user_name}}, your order has been successfully placed. Reference: {order.id}."


async def notify_order_placed(
    order: DNAKitOrder,
    user: User,
    *,
    channel: str | None,
    notifications: NotificationService,
    connection: BaseDBAsyncClient,
) -> None:
    """Queue the order-placed notification in the caller's transaction (on placing, and on a resend)."""
    await notifications.notify(
        user,
        message=order_placed_message(order),
        channel=channel,
        attributes={"kit_type": str(order.sequencing_type), "order_id": order.id},
        order=order,
        connection=connection,
    )


async def place_order(
    command: PlaceOrder,
    *,
    user: User,
    actor: str,
    notifications: NotificationService,
    connection: BaseDBAsyncClient,
) -> DNAKitOrder:
    """Insert the order, who placed it and its notification in the caller's transaction: all
    exist, or none.

    `user` comes from `check_order`; users are never deleted (orders refer to them), so it
    cannot vanish in between.
    """
    order = await INSERT_ORDER.create(
        connection,
        user_id=user.id,
        sequencing_type=command.sequencing_type,
        shipping_info=command.shipping_info.model_dump(mode="json", exclude_none=True),
        requested_channel=command.notification_channel,
        placed_by=actor,
    )
    await INSERT_CHANGE.create(connection, order_id=order.id, kind=OrderChangeKind.PLACED, actor=actor)
    await notify_order_placed(
        order, user, channel=command.notification_channel, notifications=notifications, connection=connection
    )
    return order


async def get_order(order_id: str, *, with_changes: bool = False) -> DNAKitOrder:
    order = None
    if is_well_formed(order_id):
        query = DNAKitOrder.get_or_none(id=order_id)
        if with_changes:
            query = query.prefetch_related(Prefetch("changes", OrderChange.all().order_by("at", "id")))
        order = await query
    if order is None:
        raise OrderNotFound(f"No order has the id {order_id!r}.")
    return order


async def list_orders(query: OrderQuery) -> tuple[list[DNAKitOrder], str | None]:
    """A page of orders, newest first, matching every filter given; and the id to continue after."""
    filters = {
        "user_id": query.user_id,
        "status": query.status,
        "notification_status": query.notification_status,
        "placed_by": query.placed_by,
        "created_at__gte": query.created_after,
        "created_at__lt": query.created_before,
        "id__lt": query.after,
    }
    found = (
        await DNAKitOrder.filter(**{name: value for name, value in filters.items() if value is not None})
        .order_by("-id")
        .limit(query.limit + 1)
    )
    if len(found) > query.limit:
        return found[: query.limit], found[query.limit - 1].id
    return found, None


async def change_status(order_id: str, new_status: OrderStatus, *, actor: str) -> DNAKitOrder:
    """Move the order to `new_status` if the lifecycle allows it, and record who did; the same
    status is a no-op.

    The update is conditional on the status just read, so two concurrent changes
    cannot both pass the check.
    """
    while True:
        order = await get_order(order_id)
        if order.status == new_status:
            return order
        allowed = allowed_next(order.status)
        if new_status not in allowed:
            choices = ", ".join(sorted(allowed)) or "none: it is final"
            raise IllegalTransition(
                f"An order that is {order.status} cannot become {new_status}. Allowed next: {choices}.",
                pointer="#/status",
            )
        async with transaction() as connection:
            changed = (
                await DNAKitOrder.filter(id=order_id, status=order.status)
                .using_db(connection)
                .update(status=new_status, updated_at=datetime.now(UTC))
            )
            if changed:
                await OrderChange.create(
                    using_db=connection,
                    order_id=order_id,
                    kind=OrderChangeKind.STATUS,
                    value=new_status,
                    actor=actor,
                )
        if changed:
            return await get_order(order_id)
