"""Webhooks the sandbox sends: delivery receipts and inbound messages, signed, batched and retried.

A receipt is scheduled the moment a message is accepted, due after the
current delay; an inbound message is due at once. One background task wakes
when something falls due, gathers the due events of each target (kind and
channel) into batches, and hands each batch to its own sending task, so a
slow or dead receiver never holds up a provider answer or another batch.
A batch is one signed POST of a JSON list; it is retried with backoff on a
non-2xx answer, a timeout or a connection error, then given up and logged.

Everything lives in memory: pending webhooks die with the process, as the
sandbox's other logs do.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import json
import logging
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import aiohttp

from provider_sandbox.channels import Channel
from provider_sandbox.outcomes import outcome_for
from provider_sandbox.settings import MAX_RECEIPT_DELAY_MS, SandboxSettings
from provider_sandbox.signing import signed_headers

log = logging.getLogger("provider_sandbox.webhooks")

Kind = Literal["receipt", "inbound"]
State = Literal["scheduled", "sending", "retrying", "sent", "given_up"]

MAX_BACKOFF_SECONDS = 30.0
MAX_IN_FLIGHT = 16


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass
class Webhook:
    """One event on its way out: the JSON sent, and how its delivery is going."""

    kind: Kind
    channel: Channel
    url: str
    event: dict[str, Any]
    state: State = "scheduled"
    attempts: int = 0
    last_error: str | None = None
    delivery_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The event exactly as sent, then its delivery: state, attempts, last error, delivery id."""
        return self.event | {
            "state": self.state,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "delivery_id": self.delivery_id,
        }


@dataclass(order=True)
class _Due:
    due: float
    sequence: int
    webhook: Webhook = field(compare=False)


class WebhookSender:
    """Schedules, batches, signs and sends receipts and inbound messages; keeps a log of each."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.delay_ms = settings.receipt_delay_ms
        self._sequence = itertools.count()
        self._pending: list[_Due] = []
        self._log: list[Webhook] = []
        self._wake = asyncio.Event()
        self._sending: set[asyncio.Task[None]] = set()
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._session: aiohttp.ClientSession | None = None

    # --- scheduling (synchronous: callers never wait on a receiver) ---

    def receipt(self, channel: Channel, message_id: str, recipient: str) -> Webhook | None:
        """Schedule an accepted message's receipt, if its channel sends them and its address wants one."""
        url = self.settings.receipt_url(channel)
        outcome = outcome_for(channel, recipient)
        if url is None or outcome is None:
            return None
        event = {
            "id": _new_id("evt"),
            "type": "receipt",
            "channel": channel,
            "message_id": message_id,
            "status": outcome.status,
            "reason": outcome.reason,
            "occurred_at": None,  # set when it falls due: the moment the handset or inbox "got" it
        }
        return self._schedule(Webhook("receipt", channel, url, event), self.delay_ms)

    def inbound(self, channel: Channel, sender: str, text: str) -> Webhook | None:
        """Schedule an inbound message (a user's reply) for now; None when inbound messages are off."""
        url = self.settings.inbound_url_for(channel)
        if url is None:
            return None
        event = {
            "id": _new_id("in"),
            "type": "inbound",
            "channel": channel,
            "from": sender,
            "text": text,
            "occurred_at": _now_iso(),
        }
        return self._schedule(Webhook("inbound", channel, url, event), 0)

    def set_delay(self, delay_ms: int) -> None:
        """The delay of receipts scheduled from now on (those already scheduled keep theirs)."""
        if not 0 <= delay_ms <= MAX_RECEIPT_DELAY_MS:
            raise ValueError(f"delay_ms must be from 0 to {MAX_RECEIPT_DELAY_MS}")
        self.delay_ms = delay_ms

    def flush(self) -> int:
        """Make every scheduled webhook due now; how many there were."""
        now = asyncio.get_running_loop().time()
        for entry in self._pending:
            entry.due = now
        heapq.heapify(self._pending)
        self._wake.set()
        return len(self._pending)

    def entries(self, kind: Kind, channel: Channel | None = None) -> list[dict[str, Any]]:
        """The log of one kind, in the order the webhooks were scheduled."""
        return [
            webhook.to_json()
            for webhook in self._log
            if webhook.kind == kind and (channel is None or webhook.channel == channel)
        ]

    def clear(self, kind: Kind) -> None:
        """Forget every webhook of one kind: scheduled ones are dropped, ones being sent are stopped."""
        self._log = [webhook for webhook in self._log if webhook.kind != kind]
        self._pending = [entry for entry in self._pending if entry.webhook.kind != kind]
        heapq.heapify(self._pending)
        for task in list(self._sending):
            if task.get_name().startswith(f"{kind}:"):
                task.cancel()

    def _schedule(self, webhook: Webhook, delay_ms: int) -> Webhook:
        due = asyncio.get_running_loop().time() + delay_ms / 1000
        heapq.heappush(self._pending, _Due(due, next(self._sequence), webhook))
        self._log.append(webhook)
        self._wake.set()
        return webhook

    # --- sending ---

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Until cancelled: hand each batch that falls due to its own sending task."""
        self._session = session
        try:
            while True:
                self._wake.clear()
                self._start_due_batches()
                wait = self._seconds_to_next()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            for task in list(self._sending):
                task.cancel()
            await asyncio.gather(*self._sending, return_exceptions=True)

    def _seconds_to_next(self) -> float | None:
        if not self._pending:
            return None
        return max(0.0, self._pending[0].due - asyncio.get_running_loop().time())

    def _start_due_batches(self) -> None:
        now = asyncio.get_running_loop().time()
        groups: dict[tuple[Kind, Channel], list[Webhook]] = {}
        while self._pending and self._pending[0].due <= now:
            webhook = heapq.heappop(self._pending).webhook
            groups.setdefault((webhook.kind, webhook.channel), []).append(webhook)
        size = self.settings.receipt_batch_size
        for (kind, channel), webhooks in groups.items():
            for start in range(0, len(webhooks), size):
                batch = webhooks[start : start + size]
                task = asyncio.create_task(self._deliver_guarded(batch), name=f"{kind}:{channel}")
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _deliver_guarded(self, batch: list[Webhook]) -> None:
        """`_deliver`, with any unexpected failure logged and the batch marked given up, never raised."""
        try:
            await self._deliver(batch)
        except Exception:
            log.exception("%s delivery failed unexpectedly; given up", batch[0].kind)
            _update(batch, state="given_up", last_error="unexpected error in the sandbox; see its log")

    async def _deliver(self, batch: list[Webhook]) -> None:
        """POST one batch until the receiver takes it or the attempts run out."""
        delivery_id = _new_id("dlv")
        occurred_at = _now_iso()
        for webhook in batch:
            webhook.event["occurred_at"] = webhook.event["occurred_at"] or occurred_at
            webhook.delivery_id = delivery_id
        first = batch[0]
        body = json.dumps([webhook.event for webhook in batch], separators=(",", ":")).encode()
        secret = self.settings.receipt_secret(first.channel)
        attempts = self.settings.receipt_attempts
        what = f"{first.kind} delivery {delivery_id} ({first.channel}, {len(batch)} event(s))"
        for attempt in range(1, attempts + 1):
            _update(batch, state="sending", attempts=attempt)
            error = await self._post(first.url, body, secret, delivery_id)
            if error is None:
                _update(batch, state="sent")
                log.info("%s: sent on attempt %d", what, attempt)
                return
            _update(batch, last_error=error)
            if attempt == attempts:
                break
            wait = self._backoff(attempt)
            _update(batch, state="retrying")
            log.warning(
                "%s: attempt %d of %d failed (%s); retrying in %.2fs", what, attempt, attempts, error, wait
            )
            await asyncio.sleep(wait)
        _update(batch, state="given_up")
        log.warning("%s: given up after %d attempt(s); the last failed (%s)", what, attempts, error)

    def _backoff(self, attempt: int) -> float:
        """Full jitter: a random wait from 0 to min(cap, base x 2^(attempt-1))."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.settings.receipt_retry_base_ms / 1000 * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret

    async def _post(self, url: str, body: bytes, secret: str, delivery_id: str) -> str | None:
        """None when the receiver answered 2xx; else what went wrong, without any address or secret."""
        assert self._session is not None, "run() owns the session"
        headers = signed_headers(secret, body, delivery_id=delivery_id)
        try:
            async with (
                self._in_flight,
                self._session.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                if 200 <= response.status < 300:
                    return None
                return f"HTTP {response.status}"
        except TimeoutError:
            return f"no answer within {self.settings.receipt_timeout_seconds:g}s"
        except aiohttp.ClientError as error:
            return f"connection failed ({type(error).__name__})"


def _update(batch: list[Webhook], **changes: Any) -> None:
    for webhook in batch:
        for name, value in changes.items():
            setattr(webhook, name, value)
