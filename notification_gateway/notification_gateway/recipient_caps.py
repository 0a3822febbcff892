"""Caps on how many notifications one address may be sent on a channel within a window.

SMS pumping (OWASP API6: unrestricted access to sensitive business flows)
makes a service send masses of premium-rate texts to numbers an attacker
profits from. A cap per recipient address, counted in the database so it
holds across every gateway process and every caller, bounds what any caller
can make us send to one number. On PostgreSQL the count runs under a
transaction-scoped advisory lock on the address, so concurrent requests for one
number queue up and the cap holds exactly; on SQLite the one connection
serialises them anyway. The cap applies to the channel chosen when the
notification is accepted (a later fallback to another channel is not counted).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import parse
from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.errors import DomainError
from notification_gateway.models import Notification


class RecipientCapReached(DomainError):
    """This address had as many notifications on this channel as the window allows."""


@dataclass(frozen=True)
class RecipientCap:
    limit: int
    window: timedelta
    spec: str


def parse_caps(spec: str) -> dict[str, RecipientCap]:
    """`sms=5/hour,push=100/day` → caps by channel; ValueError naming the bad part."""
    caps: dict[str, RecipientCap] = {}
    for part in (entry.strip() for entry in spec.split(",") if entry.strip()):
        channel, separator, rate = part.partition("=")
        if not separator or not channel.strip():
            raise ValueError(f"{part!r} is not channel=N/period")
        item = parse(rate.strip())
        caps[channel.strip()] = RecipientCap(item.amount, timedelta(seconds=item.get_expiry()), rate.strip())
    return caps


def address_key(channel: str, address: str) -> str:
    """What is stored to count by: a hash, so the cap needs no second copy of the address."""
    return hashlib.sha256(f"{channel}\n{address}".encode()).hexdigest()[:40]


async def check_cap(
    caps: Mapping[str, RecipientCap], *, channel: str, key: str, now: datetime, connection: BaseDBAsyncClient
) -> None:
    """Raise RecipientCapReached if `key` has had its cap; call in the transaction that inserts."""
    cap = caps.get(channel)
    if cap is None:
        return
    if connection.capabilities.dialect == "postgres":
        lock = int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True)
        await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [lock])
    recent = Notification.filter(address_key=key, created_at__gte=now - cap.window).using_db(connection)
    if await recent.count() < cap.limit:
        return
    oldest = await recent.order_by("created_at").first()
    wait = math.ceil((oldest.created_at + cap.window - now).total_seconds()) if oldest else 1
    raise RecipientCapReached(
        f"This recipient has reached the cap of {cap.spec} notifications by {channel}. "
        f"Retry in {max(wait, 1)}s.",
        retry_after=max(wait, 1),
    )
