"""`Idempotency-Key` (IETF httpapi draft): a retried request never does its work twice.

A key is claimed by an INSERT committed on its own before the work starts, so a
concurrent duplicate sees it and gets 409. The work and the stored answer
commit together, so a replay always matches what was done. Failed work
releases the key, so the client may retry it. A claim whose holder died
expires after `lock_seconds`; a stored answer is kept for `retention`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from apikit.fields import DatetimeField
from apikit.inserts import Insert
from apikit.problems import (
    IDEMPOTENCY_IN_FLIGHT,
    IDEMPOTENCY_KEY_REUSED,
    MALFORMED_REQUEST,
    FieldError,
    Problem,
)
from apikit.responses import json_response
from apikit.updates import Update

log = logging.getLogger("apikit.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# Visible ASCII, inner spaces allowed: what survives an HTTP header unchanged.
KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"
IN_FLIGHT, DONE = "in_flight", "done"


class IdempotencyRecordBase(Model):
    """One claimed key per caller; each service subclasses it into its own table."""

    id = fields.IntField(primary_key=True)
    principal = fields.CharField(max_length=64)
    key = fields.CharField(max_length=MAX_KEY_LENGTH)
    fingerprint = fields.CharField(max_length=64)
    state = fields.CharField(max_length=16)
    locked_until = DatetimeField()
    response_status = fields.IntField(null=True)
    response_body = fields.JSONField(null=True)
    response_headers = fields.JSONField(null=True)
    created_at = DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True
        unique_together = (("principal", "key"),)


@dataclass(frozen=True)
class Outcome:
    """What the work answered: stored as-is and replayed for a repeated key."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    def response(self, *, replayed: bool = False) -> web.Response:
        headers = dict(self.headers)
        if replayed:
            headers[REPLAYED_HEADER] = "true"
        return json_response(self.body, status=self.status, headers=headers)


@dataclass
class Claim:
    """A request's hold on its key: the answer to replay, or the way to record the new one."""

    store: IdempotencyStore
    record_id: int | None = None
    replay: web.Response | None = None
    answered: bool = False

    async def answer(
        self, connection: BaseDBAsyncClient, status: int, body: Any, headers: Mapping[str, str] | None = None
    ) -> web.Response:
        """The response, stored for replays in the transaction of the work it reports."""
        outcome = Outcome(status, body, headers or {})
        if self.record_id is not None:
            await self.store.answers.run(
                connection,
                {"id": self.record_id},
                state=DONE,
                response_status=outcome.status,
                response_body=outcome.body,
                response_headers=dict(outcome.headers),
            )
            self.answered = True
        return outcome.response()


def fingerprint(method: str, path: str, payload: Any) -> str:
    """Same method, path and JSON value give the same fingerprint, whatever the formatting."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def key_of(request: web.Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not re.fullmatch(KEY_PATTERN, key):
        raise Problem.of(
            MALFORMED_REQUEST,
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} visible ASCII characters.",
            errors=[FieldError("malformed", header=HEADER)],
        )
    return key


@dataclass(frozen=True)
class IdempotencyStore:
    """Claims, completes and releases keys in the service's own record table."""

    records: type[IdempotencyRecordBase]
    lock_seconds: float = 60.0
    retention: timedelta = timedelta(hours=24)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # The claim and the stored answer, their SQL written once: the relay sends a key with every
    # hand-over, so the gateway runs these for most notifications.
    @functools.cached_property
    def claims(self) -> Insert:
        return Insert(self.records)

    @functools.cached_property
    def answers(self) -> Update:
        return Update(self.records)

    async def _claim(self, principal: str, key: str, print_: str) -> int | Outcome:
        """The new record's id, or the stored answer to replay; 409/422 otherwise."""
        for _ in range(3):
            now = self.clock()
            locked_until = now + timedelta(seconds=self.lock_seconds)
            try:
                # Committed by itself, outside the work's transaction: concurrent duplicates must see it.
                record = await self.claims.create(
                    None,
                    principal=principal,
                    key=key,
                    fingerprint=print_,
                    state=IN_FLIGHT,
                    locked_until=locked_until,
                )
                return record.id
            except IntegrityError:
                existing = await self.records.get_or_none(principal=principal, key=key)
            except Exception:
                # The database failed mid-claim; had this claim been saved after all, free it
                # (only this one: its lock time is ours, another request's claim is not).
                await self._release(
                    self.records.filter(principal=principal, key=key, locked_until=locked_until)
                )
                raise
            if existing is None:
                continue  # released in between: claim again
            if existing.created_at < now - self.retention:
                await self.records.filter(id=existing.id).delete()
                continue
            if existing.fingerprint != print_:
                raise Problem.of(IDEMPOTENCY_KEY_REUSED, "This key was sent before with another body.")
            if existing.state == DONE:
                return Outcome(existing.response_status, existing.response_body, existing.response_headers)
            taken_over = await self.records.filter(
                id=existing.id, state=IN_FLIGHT, locked_until__lt=now
            ).update(locked_until=now + timedelta(seconds=self.lock_seconds))
            if taken_over:
                return existing.id
            raise Problem.of(IDEMPOTENCY_IN_FLIGHT, headers={"Retry-After": "1"})
        raise Problem.of(IDEMPOTENCY_IN_FLIGHT, headers={"Retry-After": "1"})

    @asynccontextmanager
    async def claim(
        self, request: web.Request, *, principal: str, payload: Any | Callable[[], Any]
    ) -> AsyncIterator[Claim]:
        """Hold the request's `Idempotency-Key` (if it sent one) for the block: `hold` with it."""
        async with self.hold(
            key_of(request), method=request.method, path=request.path, principal=principal, payload=payload
        ) as claim:
            yield claim

    @asynccontextmanager
    async def hold(
        self, key: str | None, *, method: str, path: str, principal: str, payload: Any | Callable[[], Any]
    ) -> AsyncIterator[Claim]:
        """Hold `key` (None: no key, nothing held) for the work of `method path` with `payload`.

        `payload` is the request's JSON value, or a function returning it: called only when a key
        was sent, so requests without one (most) never pay for building it.

        The claim's `replay` is the stored answer when this key and body were answered before: return
        it, whatever has changed since. Otherwise do the work and `answer` in its transaction. If the
        block raises (or ends unanswered), the key is released so that the client may retry.
        """
        if key is None:
            yield Claim(self)
            return
        if callable(payload):
            payload = payload()
        claimed = await self._claim(principal, key, fingerprint(method, path, payload))
        if isinstance(claimed, Outcome):
            yield Claim(self, replay=claimed.response(replayed=True))
            return
        claim = Claim(self, record_id=claimed)
        try:
            yield claim
        except BaseException:
            await self._release(self.records.filter(id=claimed))
            raise
        if not claim.answered:
            await self._release(self.records.filter(id=claimed))

    async def _release(self, claims) -> None:
        """Free a claim whose work failed, so the client may retry; if the database is gone too,
        the claim's lock simply runs out (`lock_seconds`) and a retry takes it over."""
        try:
            await claims.filter(state=IN_FLIGHT).delete()
        except Exception as exc:
            log.warning("could not release an idempotency key", extra={"error": type(exc).__name__})
