"""`POST /notify/batch`: one message template for many recipients, each its own notification.

Every recipient is routed, scheduled, capped and rendered as a single
`POST /notify` would be, and refused on its own: one bad recipient leaves the
others accepted. With a batch key (the request's `Idempotency-Key`), each
recipient's notification carries a key made of the batch key and the recipient
id, unique per caller, so sending the same batch again (all of it, or only the
recipients that failed) makes no second notification for anyone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.errors import DomainError
from notification_gateway.callbacks import CallbackPolicy
from notification_gateway.models import Notification
from notification_gateway.notifications import accept_for
from notification_gateway.plugins import ChannelRegistry
from notification_gateway.recipient_caps import RecipientCap
from notification_gateway.routing import RoutingRules, UnknownChannel
from notification_gateway.scheduling import SendAtOutOfRange
from notification_gateway.schemas import BatchItem, BatchRequest
from notification_gateway.templates import TemplateError

# Faults of what every recipient shares (message, channel, send_at): the whole request is refused.
WHOLE_REQUEST_ERRORS = (TemplateError, UnknownChannel, SendAtOutOfRange)


class DuplicateRecipient(DomainError):
    """The batch names this recipient id twice."""


def item_key(batch_key: str, recipient_id: str) -> str:
    return hashlib.sha256(f"{batch_key}\n{recipient_id}".encode()).hexdigest()


async def accept_batch(
    request: BatchRequest,
    *,
    batch_key: str | None,
    caller: str,
    channels: ChannelRegistry,
    rules: RoutingRules,
    callbacks: CallbackPolicy,
    caps: Mapping[str, RecipientCap],
    default_timezone: ZoneInfo,
    problem_of: Callable[[DomainError], dict],
    connection: BaseDBAsyncClient,
    now: datetime,
) -> list[BatchItem]:
    """One item per recipient, in order: its notification, or the problem (`problem_of(error)`) that
    refused it. A fault of the shared part (WHOLE_REQUEST_ERRORS) is raised instead. Call in one
    transaction: a domain error writes nothing for its item."""
    keys = {r.id: item_key(batch_key, r.id) for r in request.recipients} if batch_key else {}
    earlier = {}
    if keys:
        made = await Notification.filter(caller=caller, item_key__in=list(keys.values())).using_db(connection)
        earlier = {notification.item_key: notification for notification in made}
    items: list[BatchItem] = []
    seen: set[str] = set()
    for index, recipient in enumerate(request.recipients):
        pointer = f"#/recipients/{index}"
        try:
            if recipient.id in seen:
                raise DuplicateRecipient(
                    f"Recipient {recipient.id!r} appears earlier in this batch.", pointer=f"{pointer}/id"
                )
            seen.add(recipient.id)
            key = keys.get(recipient.id)
            if key in earlier:
                replayed = earlier[key]
                items.append(
                    BatchItem(
                        recipient_id=recipient.id, id=replayed.id, status=replayed.status, replayed=True
                    )
                )
                continue
            notification, _event = await accept_for(
                request,
                recipient,
                caller=caller,
                channels=channels,
                rules=rules,
                callbacks=callbacks,
                caps=caps,
                default_timezone=default_timezone,
                connection=connection,
                now=now,
                item_key=key,
            )
        except WHOLE_REQUEST_ERRORS:
            raise
        except DomainError as error:
            if error.pointer and error.pointer.startswith("#/recipient/"):
                error.pointer = error.pointer.replace("#/recipient", pointer, 1)
            elif error.pointer in (None, "#/recipient"):
                error.pointer = pointer
            items.append(BatchItem(recipient_id=recipient.id, problem=problem_of(error)))
            continue
        items.append(BatchItem(recipient_id=recipient.id, id=notification.id, status=notification.status))
    return items
