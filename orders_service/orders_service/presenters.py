"""From database rows to the API's JSON shapes."""

from __future__ import annotations

from orders_service.models import DNAKitOrder, User
from orders_service.schemas import NotificationView, OrderView, UserView


def order_view(order: DNAKitOrder) -> OrderView:
    return OrderView(
        id=order.id,
        user_id=order.user_id,
        sequencing_type=order.sequencing_type,
        status=order.status,
        shipping_info=order.shipping_info,
        notification=NotificationView(
            requested_channel=order.requested_channel,
            channel=order.notification_channel,
            status=order.notification_status,
            gateway_id=order.notification_id,
        ),
        created_at=order.created_at,
        updated_at=order.updated_at,
    )


def user_view(user: User) -> UserView:
    """`user.orders` must have been prefetched."""
    return UserView(
        id=user.id,
        name=user.name,
        email=user.email,
        phone_number=user.phone_number,
        address=user.address,
        contacts=user.contacts or {},
        created_at=user.created_at,
        updated_at=user.updated_at,
        orders=[order_view(order) for order in user.orders],
    )
