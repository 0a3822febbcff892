"""Priority lanes: transactional notifications (a password reset, an order confirmation) go before bulk
ones (a newsletter), and bulk ones use only a share of the delivery concurrency.

Workers claim due transactional work first on every turn; bulk work then fills
at most `bulk_share` of the slots, so a bulk backlog of any size leaves the rest
free for transactional sends that arrive meanwhile. The claim for each lane
walks the index on (priority, status, next_attempt_at), never the other lane's rows.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise.expressions import Q

from apikit.queue import Lane


class Priority(StrEnum):
    TRANSACTIONAL = "transactional"
    BULK = "bulk"


def delivery_lanes(bulk_share: float) -> tuple[Lane, ...]:
    """Transactional first, with every slot; then bulk, with `bulk_share` of them (at least one)."""
    return (
        Lane(Priority.TRANSACTIONAL.value, Q(priority=Priority.TRANSACTIONAL)),
        Lane(Priority.BULK.value, Q(priority=Priority.BULK), share=bulk_share),
    )
