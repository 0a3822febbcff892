"""Named leases in a small table: one process at a time does a job, across every replica.

A row per job name holds its owner and when the lease runs out. Taking it is
one conditional UPDATE (free, expired or already ours) or, the first time, an
INSERT that only one process can win; both work alike on SQLite and
PostgreSQL, and a process that dies just lets its lease run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tortoise import fields
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.models import Model

from apikit.fields import DatetimeField


class LeaseBase(Model):
    """Each service subclasses it into its own `leases` table."""

    name = fields.CharField(primary_key=True, max_length=64)
    owner = fields.CharField(max_length=64)
    expires_at = DatetimeField()

    class Meta:
        abstract = True


async def acquire(model: type[LeaseBase], name: str, owner: str, *, seconds: float, now: datetime) -> bool:
    """Take or renew the lease `name` for `owner`; False while another owner holds it."""
    until = now + timedelta(seconds=seconds)
    free_or_ours = Q(expires_at__lt=now) | Q(owner=owner)
    if await model.filter(free_or_ours, name=name).update(owner=owner, expires_at=until):
        return True
    try:
        await model.create(name=name, owner=owner, expires_at=until)
    except IntegrityError:
        return False  # someone else holds it
    return True


async def release(model: type[LeaseBase], name: str, owner: str) -> None:
    """Give the lease back early, if still ours."""
    await model.filter(name=name, owner=owner).delete()
