"""Addresses a channel must not send to: hard bounces, addresses undelivered N times running, opt-outs.

An address is kept only as an HMAC-SHA256 of the channel and the address, keyed
with `GATEWAY_SUPPRESSION_KEY`: enough to match it, useless to read it back (an
unkeyed hash of a phone number is reversed by trying every number). Lookups
take the address and hash it the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from apikit.errors import DomainError
from apikit.ids import is_well_formed
from notification_gateway.models import Suppression
from notification_gateway.status import ReceiptStatus

log = logging.getLogger("notification_gateway.suppression")

BOUNCED = "bounced"
UNDELIVERED = "undelivered"
OPTED_OUT = "opted_out"
#: Replies that opt a number out, and back in (the carriers' standard keywords).
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})


class SuppressionNotFound(DomainError):
    """No suppression has this id."""


class NoSuchChannel(DomainError):
    """Suppressions were asked for on a channel that is not installed."""


@dataclass(frozen=True)
class SuppressionRules:
    """How addresses are hashed, and how many `undelivered` receipts in a row suppress one."""

    key: bytes
    undelivered_limit: int = 3

    def address_hash(self, channel: str, address: str) -> str:
        return hmac.new(self.key, f"{channel}\n{address}".encode(), hashlib.sha256).hexdigest()


async def active(channel: str, address_hash: str, connection: BaseDBAsyncClient | None = None):
    """The suppression in force for this address on this channel, or None."""
    return await Suppression.get_or_none(
        channel=channel, address_hash=address_hash, suppressed_at__isnull=False, using_db=connection
    )


_ACTIVE_AMONG = """
SELECT "channel", "address_hash", "reason" FROM "suppressions"
WHERE "address_hash" = ANY($1::text[]) AND "suppressed_at" IS NOT NULL
"""


async def active_among(addresses: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
    """Of (channel, address hash) pairs, those suppressed, with the reason of each (one query)."""
    wanted = set(addresses)
    if not wanted:
        return {}
    hashes = sorted({address_hash for _, address_hash in wanted})
    connection = Suppression._meta.db
    if connection.capabilities.dialect == "postgres":  # once per claim: written once, not built each time
        rows = await connection.execute_query_dict(_ACTIVE_AMONG, [hashes])
        found = [(row["channel"], row["address_hash"], row["reason"]) for row in rows]
    else:
        found = await Suppression.filter(address_hash__in=hashes, suppressed_at__isnull=False).values_list(
            "channel", "address_hash", "reason"
        )
    return {(channel, hashed): reason for channel, hashed, reason in found if (channel, hashed) in wanted}


async def _row(channel: str, address_hash: str, connection: BaseDBAsyncClient) -> Suppression:
    row = (
        await Suppression.filter(channel=channel, address_hash=address_hash)
        .select_for_update()
        .using_db(connection)
        .first()
    )
    if row is None:
        row = await Suppression.create(using_db=connection, channel=channel, address_hash=address_hash)
    return row


async def note_receipt(
    rules: SuppressionRules,
    *,
    channel: str,
    address_hash: str,
    status: ReceiptStatus,
    now: datetime,
    connection: BaseDBAsyncClient,
) -> str | None:
    """Count a receipt against its address; the reason if this receipt suppressed it."""
    if status is ReceiptStatus.DELIVERED:
        await (
            Suppression.filter(channel=channel, address_hash=address_hash, suppressed_at__isnull=True)
            .using_db(connection)
            .update(undelivered_in_a_row=0)
        )
        return None
    row = await _row(channel, address_hash, connection)
    if row.suppressed_at is not None:
        return None
    row.undelivered_in_a_row += 1
    reason = None
    if status is ReceiptStatus.BOUNCED:
        reason = BOUNCED
    elif row.undelivered_in_a_row >= rules.undelivered_limit:
        reason = UNDELIVERED
    if reason is not None:
        row.reason, row.suppressed_at = reason, now
    await row.save(using_db=connection)
    return reason


async def opt_out(channel: str, address_hash: str, *, now: datetime, connection: BaseDBAsyncClient) -> None:
    row = await _row(channel, address_hash, connection)
    if row.suppressed_at is None:
        row.reason, row.suppressed_at = OPTED_OUT, now
        await row.save(using_db=connection)


async def opt_in(channel: str, address_hash: str, *, connection: BaseDBAsyncClient) -> None:
    """A `START` lifts an opt-out (and only that: a bounce stays until an operator lifts it)."""
    await (
        Suppression.filter(channel=channel, address_hash=address_hash, reason=OPTED_OUT)
        .using_db(connection)
        .delete()
    )


async def lift(suppression_id: str, *, by: str) -> None:
    """An operator (`by`) lifts a suppression; the address starts afresh. The log names who did."""
    deleted = 0
    if is_well_formed(suppression_id):
        deleted = await Suppression.filter(id=suppression_id, suppressed_at__isnull=False).delete()
    if not deleted:
        raise SuppressionNotFound(f"No suppression has the id {suppression_id!r}.")
    log.warning("suppression lifted by hand", extra={"suppression": suppression_id, "by": by})
