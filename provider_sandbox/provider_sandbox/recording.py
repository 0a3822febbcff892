"""What the providers received, kept in memory for tests in another process to read over HTTP.

Two logs: the messages that were accepted, and every request that reached a
provider endpoint with its outcome. Neither ever holds a token or header.
Entries are listed in arrival order, even when a delayed request finishes
after a later one; a request that arrived before the last `clear()` is not
recorded at all, so a slow straggler cannot leak into the next test.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from provider_sandbox.channels import Channel

Outcome = Literal["accepted", "rejected", "fault", "abandoned"]


@dataclass(frozen=True)
class Arrival:
    """When a request reached the sandbox: its place in line and the log generation it belongs to."""

    sequence: int
    generation: int
    received_at: str


class Recorder:
    """The message log and the request log, both in arrival order."""

    def __init__(self) -> None:
        self._sequence = itertools.count()
        self._generation = 0
        self._messages: list[tuple[int, dict[str, Any]]] = []
        self._requests: list[tuple[int, dict[str, Any]]] = []

    def arrival(self) -> Arrival:
        """Call as soon as a request arrives, before any waiting, to fix its place in the logs."""
        received_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return Arrival(next(self._sequence), self._generation, received_at)

    def add_message(
        self,
        arrival: Arrival,
        *,
        id: str,
        channel: Channel,
        recipient: str,
        message: str,
        title: str | None = None,
    ) -> None:
        entry = {
            "id": id,
            "channel": channel,
            "recipient": recipient,
            "message": message,
            "title": title,
            "received_at": arrival.received_at,
        }
        self._insert(self._messages, arrival, entry)

    def add_request(
        self, arrival: Arrival, *, channel: Channel, outcome: Outcome, status: int | None
    ) -> None:
        entry = {"channel": channel, "outcome": outcome, "status": status, "received_at": arrival.received_at}
        self._insert(self._requests, arrival, entry)

    def messages(self, channel: Channel | None = None) -> list[dict[str, Any]]:
        return _select(self._messages, channel)

    def requests(self, channel: Channel | None = None) -> list[dict[str, Any]]:
        return _select(self._requests, channel)

    def clear(self) -> None:
        """Forget both logs, and anything still in flight from before."""
        self._generation += 1
        self._messages.clear()
        self._requests.clear()

    def _insert(self, log: list[tuple[int, dict[str, Any]]], arrival: Arrival, entry: dict[str, Any]) -> None:
        if arrival.generation == self._generation:
            bisect.insort(log, (arrival.sequence, entry), key=lambda item: item[0])


def _select(log: list[tuple[int, dict[str, Any]]], channel: Channel | None) -> list[dict[str, Any]]:
    return [dict(entry) for _, entry in log if channel is None or entry["channel"] == channel]
