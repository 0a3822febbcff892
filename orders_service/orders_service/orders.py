"""Placing orders and moving them along their lifecycle. Raises domain errors, never HTTP ones."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.errors import DomainError
from apikit.ids import is_well_formed
from orders_service.lifecycle import OrderStatus, allowed_next
from orders_service.models import DNAKitOrder, User
from orders_service.notifications import NotificationService
from orders_service.schemas import PlaceOrder


class UnknownUser(DomainError):
    """The order names a user who does not exist."""


class OrderNotFound(DomainError):
    """No order has the requested id."""


class IllegalTransition(DomainError):
    """The lifecycle does not allow the requested status change."""


async def check_order(command: PlaceOrder, *, notifications: NotificationService) -> User:
    """Refuse what can be refused before anything is written (an unknown user, an unusable
    channel), outside the transaction, which on SQLite holds the only connection. Returns the user."""
    user = await User.get_or_none(id=command.user_id)
    if user is None:
        raise UnknownUser(f"No user has the id {command.user_id!r}.", pointer="#/user_id")
    if command.notification_channel is not None:
        await notifications.check_channel(
            user, command.notification_channel, pointer="#/notification_channel"
        )
    return user


async def place_order(
    command: PlaceOrder, *, user: User, notifications: NotificationService, connection: BaseDBAsyncClient
) -> DNAKitOrder:
    """Insert the order and its notification in the caller's transaction: both exist, or neither.

    `user` comes from `check_order`; users are never deleted (orders refer to them), so it
    cannot vanish in between.
    """
    order = await DNAKitOrder.create(
        using_db=connection,
        user=user,
        sequencing_type=command.sequencing_type,
        shipping_info=command.shipping_info.model_dump(mode="json", exclude_none=True),
        requested_channel=command.notification_channel,
    )
    await notifications.notify(
        user,
        message=f"Hi {{user_name}}, your order has been successfully placed. Reference: {order.id}.",
        channel=command.notification_channel,
        attributes={"kit_type": command.sequencing_type, "order_id": order.id},
        order=order,
        connection=connection,
    )
    return order


async def get_order(order_id: str) -> DNAKitOrder:
    order = await DNAKitOrder.get_or_none(id=order_id) if is_well_formed(order_id) else None
    if order is None:
        raise OrderNotFound(f"No order has the id {order_id!r}.")
    return order


async def change_status(order_id: str, new_status: OrderStatus) -> DNAKitOrder:
    """Move the order to `new_status` if the lifecycle allows it; the same status is a no-op.

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
        changed = await DNAKitOrder.filter(id=order_id, status=order.status).update(
            status=new_status, updated_at=datetime.now(UTC)
        )
        if changed:
            return await get_order(order_id)
