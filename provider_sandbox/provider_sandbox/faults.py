"""Injected latency and faults, per channel: what a provider does when it misbehaves.

A channel's plan has three parts. `latency_ms` delays every answer. `queue`
entries are used up one per request, in arrival order, before normal
handling: a status to answer, a connection reset, or a one-off delay after
which the request is handled normally. `status`, when set, is answered to
every request once the queue is empty: a persistent outage.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from provider_sandbox.channels import CHANNELS, Channel

MAX_LATENCY_MS = 10 * 60 * 1000
MAX_QUEUE = 1000
_NO_BODY_STATUSES = frozenset({204, 304})


class FaultSpecError(ValueError):
    """The fault plan is not usable; `field` says which member is at fault."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class StatusFault:
    """Answer `status` (with `Retry-After` and a raw body if given) without recording a message."""

    status: int
    retry_after: str | None = None
    body: str | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"status": self.status}
        if self.retry_after is not None:
            entry["retry_after"] = self.retry_after
        if self.body is not None:
            entry["body"] = self.body
        return entry

    def content(self) -> tuple[str | None, str]:
        """(body, content type) of the answer: the given body, or a short JSON error."""
        if self.status in _NO_BODY_STATUSES:
            return None, "application/json"
        if self.body is None:
            if self.status < 400:
                return "{}", "application/json"
            return json.dumps({"error": _phrase(self.status)}), "application/json"
        try:
            json.loads(self.body)
        except ValueError:
            return self.body, "text/plain"
        return self.body, "application/json"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "injected fault"


@dataclass(frozen=True)
class ResetFault:
    """Close the connection without any HTTP answer."""

    def to_json(self) -> dict[str, Any]:
        return {"reset": True}


@dataclass(frozen=True)
class DelayFault:
    """Wait `latency_ms` more, then handle the request normally."""

    latency_ms: int

    def to_json(self) -> dict[str, Any]:
        return {"latency_ms": self.latency_ms}


QueueEntry = StatusFault | ResetFault | DelayFault


@dataclass(frozen=True)
class FaultPlan:
    """One channel's faults, as `PUT /_sandbox/faults/{channel}` sets them."""

    latency_ms: int = 0
    queue: tuple[QueueEntry, ...] = ()
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "queue": [entry.to_json() for entry in self.queue],
            "status": self.status,
        }


@dataclass(frozen=True)
class Action:
    """What to do with one request: wait `delay_ms`, then answer `fault`, or handle it if None."""

    delay_ms: int = 0
    fault: StatusFault | ResetFault | None = None


class FaultBoard:
    """The current plan of every channel; `take` consumes queue entries as requests arrive."""

    def __init__(self) -> None:
        self._latency: dict[Channel, int] = {}
        self._status: dict[Channel, int | None] = {}
        self._queues: dict[Channel, deque[QueueEntry]] = {}
        self.clear()

    def set(self, channel: Channel, plan: FaultPlan) -> None:
        self._latency[channel] = plan.latency_ms
        self._status[channel] = plan.status
        self._queues[channel] = deque(plan.queue)

    def plan(self, channel: Channel) -> FaultPlan:
        """The plan as it stands now: queue entries already used are gone."""
        return FaultPlan(self._latency[channel], tuple(self._queues[channel]), self._status[channel])

    def clear(self) -> None:
        for channel in CHANNELS:
            self.set(channel, FaultPlan())

    def take(self, channel: Channel) -> Action:
        """Decide one request's fate. Synchronous, so the queue is used in arrival order."""
        delay = self._latency[channel]
        queue = self._queues[channel]
        if queue:
            entry = queue.popleft()
            if isinstance(entry, DelayFault):
                return Action(delay + entry.latency_ms)
            return Action(delay, entry)
        status = self._status[channel]
        return Action(delay, None if status is None else StatusFault(status))


def parse_plan(document: Any) -> FaultPlan:
    """A FaultPlan from a decoded JSON body; raise FaultSpecError on anything unexpected."""
    if not isinstance(document, dict):
        raise FaultSpecError("the body must be a JSON object")
    _no_unknown_keys(document, {"latency_ms", "queue", "status"}, "")
    latency = _latency(document.get("latency_ms", 0), "latency_ms")
    status = document.get("status")
    if status is not None:
        status = _status(status, "status")
    queue = document.get("queue", [])
    if not isinstance(queue, list):
        raise FaultSpecError("queue must be a list", "queue")
    if len(queue) > MAX_QUEUE:
        raise FaultSpecError(f"queue may hold at most {MAX_QUEUE} entries", "queue")
    entries = tuple(_queue_entry(entry, f"queue[{n}]") for n, entry in enumerate(queue))
    return FaultPlan(latency, entries, status)


def _queue_entry(entry: Any, where: str) -> QueueEntry:
    if not isinstance(entry, dict):
        raise FaultSpecError(f"{where} must be an object", where)
    if "reset" in entry:
        _no_unknown_keys(entry, {"reset"}, where)
        if entry["reset"] is not True:
            raise FaultSpecError(f"{where}.reset must be true", f"{where}.reset")
        return ResetFault()
    if "status" in entry:
        _no_unknown_keys(entry, {"status", "retry_after", "body"}, where)
        status = _status(entry["status"], f"{where}.status")
        return StatusFault(
            status,
            _retry_after(entry.get("retry_after"), f"{where}.retry_after"),
            _body(entry.get("body"), status, f"{where}.body"),
        )
    if "latency_ms" in entry:
        _no_unknown_keys(entry, {"latency_ms"}, where)
        return DelayFault(_latency(entry["latency_ms"], f"{where}.latency_ms"))
    raise FaultSpecError(f"{where} must have one of status, reset or latency_ms", where)


def _no_unknown_keys(entry: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        name = f"{where}.{unknown[0]}" if where else unknown[0]
        raise FaultSpecError(f"{name} is not a known field (allowed: {', '.join(sorted(allowed))})", name)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _latency(value: Any, where: str) -> int:
    if not _integer(value) or not 0 <= value <= MAX_LATENCY_MS:
        raise FaultSpecError(f"{where} must be an integer from 0 to {MAX_LATENCY_MS}", where)
    return value


def _status(value: Any, where: str) -> int:
    if not _integer(value) or not 200 <= value <= 599:
        raise FaultSpecError(f"{where} must be an HTTP status from 200 to 599", where)
    return value


def _retry_after(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if _integer(value) and value >= 0:
        return str(value)
    if not isinstance(value, str) or not value.strip() or len(value) > 100 or not _header_safe(value):
        raise FaultSpecError(f"{where} must be a non-empty header value (seconds or an HTTP date)", where)
    return value.strip()


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable()


def _body(value: Any, status: int, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise FaultSpecError(f"{where} must be a string (the raw answer body)", where)
    if status in _NO_BODY_STATUSES:
        raise FaultSpecError(f"{where} is not allowed with status {status}, which has no body", where)
    return value
