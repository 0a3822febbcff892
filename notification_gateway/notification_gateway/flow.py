"""Flow control per channel, shared by every gateway process through the `channel_states` table.

Three things hold a channel's messages back, none of them costing a message an attempt:

- **The circuit breaker.** `failures` retryable failures (timeouts, connection errors, 5xx, 408,
  429 without `Retry-After`) within `window`, with no success between them, open it. While it is
  open the channel's messages wait in the queue, untouched; those with a fallback channel left go
  on to it at once. After the cool-down one process wins the probe (the row turns half-open) and
  sends one message: success (or a permanent answer: the provider is up) closes the circuit, a
  retryable failure opens it again for another cool-down. A circuit an operator opened stays open,
  without probes, until an operator closes it.
- **A pause.** A 429 or 503 carrying `Retry-After` pauses the whole channel until then.
- **A send rate.** Sends take slots `1/rate` apart, reserved under a row lock (one transaction per
  claim), so all processes together never exceed it.

Delivery workers leave held channels' rows in the queue: the claim itself filters them out (one
subquery on this small table), so no lease is taken only to be handed back.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits import parse
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, Subquery

from apikit.database import transaction
from apikit.errors import DomainError
from apikit.queue import LeasedQueue
from notification_gateway.events import record_event
from notification_gateway.metrics import FlowMetrics
from notification_gateway.models import ChannelState, Notification
from notification_gateway.status import AttemptOutcome, CircuitState, EventSource, NotificationStatus

log = logging.getLogger("notification_gateway.flow")

ANY_CHANNEL = "*"
BY_FAILURES = "failures"
PAUSING_STATUSES = frozenset({429, 503})
MAX_PAUSE_SECONDS = 3600.0  # a provider's Retry-After beyond an hour is taken as an hour
RATE_HORIZON_SECONDS = 1.0  # a worker reserves send slots at most this far ahead
REROUTE_BATCH = 500
_WINDOW = re.compile(r"^(\d+)/(\d+(?:\.\d+)?)(s|m|h)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


class ChannelNotFound(DomainError):
    """No installed channel has this name."""


@dataclass(frozen=True)
class BreakerRule:
    """Open after `failures` retryable failures within `window`."""

    failures: int
    window: timedelta
    spec: str


@dataclass(frozen=True)
class SendRate:
    """At most one send every `interval`."""

    interval: timedelta
    spec: str


def parse_breakers(spec: str) -> dict[str, BreakerRule]:
    """`*=5/60s,sms=3/30s` → rules by channel (`*`: every other channel); ValueError naming the bad part."""
    rules: dict[str, BreakerRule] = {}
    for part in (entry.strip() for entry in spec.split(",") if entry.strip()):
        channel, separator, rule = (piece.strip() for piece in part.partition("="))
        found = _WINDOW.match(rule)
        if not separator or not channel or found is None:
            raise ValueError(f"{part!r} is not channel=N/<seconds>s")
        failures, amount, unit = int(found[1]), float(found[2]), found[3]
        if failures < 1 or amount <= 0:
            raise ValueError(f"{part!r} needs at least 1 failure in a window longer than 0")
        rules[channel] = BreakerRule(failures, timedelta(seconds=amount * _UNIT_SECONDS[unit]), rule)
    return rules


def parse_rates(spec: str) -> dict[str, SendRate]:
    """`sms=30/second,email=10/minute` → rates by channel; ValueError naming the bad part."""
    rates: dict[str, SendRate] = {}
    for part in (entry.strip() for entry in spec.split(",") if entry.strip()):
        channel, separator, rate = (piece.strip() for piece in part.partition("="))
        if not separator or not channel:
            raise ValueError(f"{part!r} is not channel=N/period")
        item = parse(rate)
        # Rounded up to the microsecond: never a hair faster than asked.
        interval = timedelta(microseconds=math.ceil(item.get_expiry() * 1_000_000 / item.amount))
        rates[channel] = SendRate(interval, rate)
    return rates


@dataclass(frozen=True)
class FlowConfig:
    breakers: Mapping[str, BreakerRule]
    cooldown: timedelta
    rates: Mapping[str, SendRate]
    probe_lease: timedelta

    def breaker(self, channel: str) -> BreakerRule | None:
        return self.breakers.get(channel, self.breakers.get(ANY_CHANNEL))


def held_until(state: ChannelState, now: datetime) -> datetime | None:
    """When `state` lets a message of its channel go again, None if it does now; `now` for "until
    the circuit closes" (the claim filter keeps such rows back meanwhile)."""
    if state.paused_until is not None and state.paused_until > now:
        return state.paused_until
    if state.circuit is not CircuitState.CLOSED:
        return now
    return None


def _blocked(now: datetime) -> Q:
    return ~Q(circuit=CircuitState.CLOSED) | Q(paused_until__gt=now)


def _probe_due(now: datetime) -> Q:
    """An automatically opened circuit whose cool-down is over, or a half-open one whose probe lapsed."""
    opened = Q(circuit=CircuitState.OPEN, opened_by=BY_FAILURES)
    return (opened | Q(circuit=CircuitState.HALF_OPEN)) & Q(probe_at__lte=now)


_CLOSED = {
    "circuit": CircuitState.CLOSED,
    "failures": 0,
    "failures_since": None,
    "opened_at": None,
    "opened_by": None,
    "probe_at": None,
}


class FlowControl:
    """One process's view of the shared channel states, and every write to them.

    `states` is a cache, refreshed by the delivery worker; decisions that must hold across
    processes (the claim filter, opening, probing, slots) are made in the database.
    """

    def __init__(self, config: FlowConfig, metrics: FlowMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.states: dict[str, ChannelState] = {}

    # -- reading ---------------------------------------------------------------------------

    async def ensure_rows(self, channels: Iterable[str]) -> None:
        """One row per installed channel (several processes may start at once)."""
        existing = set(await ChannelState.all().values_list("channel", flat=True))
        for channel in set(channels) - existing:
            with contextlib.suppress(IntegrityError):  # another process made it first
                await ChannelState.create(channel=channel)

    async def refresh(self, now: datetime) -> dict[str, ChannelState]:
        self.states = {state.channel: state for state in await ChannelState.all()}
        self.metrics.show(self.states.values(), now)
        return self.states

    def not_held(self, now: datetime) -> Q:
        """Rows of channels neither open, half-open nor paused, as the table says at the claim."""
        return ~Q(channel__in=Subquery(ChannelState.filter(_blocked(now)).values("channel")))

    def claimable(self, now: datetime) -> Q:
        """The main claim's filter: not held, nor paced (those are claimed slot by slot)."""
        if self.config.rates:
            return self.not_held(now) & ~Q(channel__in=list(self.config.rates))
        return self.not_held(now)

    def held_until(self, channel: str, now: datetime) -> datetime | None:
        state = self.states.get(channel)
        return None if state is None else held_until(state, now)

    def probe_candidates(self, now: datetime) -> list[str]:
        """Channels whose cached state says a probe may be due (the database decides who sends it)."""
        return [
            state.channel
            for state in self.states.values()
            if state.probe_at is not None
            and state.probe_at <= now
            and (
                state.circuit is CircuitState.HALF_OPEN
                or (state.circuit is CircuitState.OPEN and state.opened_by == BY_FAILURES)
            )
        ]

    def reroutable(self) -> list[str]:
        return [state.channel for state in self.states.values() if state.circuit is not CircuitState.CLOSED]

    def slots_free(self, channel: str, now: datetime) -> int:
        """How many sends of a paced channel fit before the reservation horizon (by the cache)."""
        state, rate = self.states.get(channel), self.config.rates[channel]
        if state is None or held_until(state, now) is not None:
            return 0
        start = max(now, state.next_slot_at or now)
        room = (now + timedelta(seconds=RATE_HORIZON_SECONDS) - start) / rate.interval
        return max(0, math.floor(room) + 1) if room >= 0 else 0

    # -- shared decisions ------------------------------------------------------------------

    async def try_probe(self, channel: str, now: datetime) -> bool:
        """Win the one probe of a channel whose cool-down is over: True for exactly one process."""
        won = await ChannelState.filter(_probe_due(now), channel=channel).update(
            circuit=CircuitState.HALF_OPEN, probe_at=now + self.config.probe_lease
        )
        if won:
            log.info("circuit half-open: one probe goes", extra={"channel": channel})
        return bool(won)

    async def no_probe_sent(self, channel: str, now: datetime, retry_in: timedelta) -> None:
        """The probe's winner found nothing to send: let anyone probe again after `retry_in`."""
        await ChannelState.filter(channel=channel, circuit=CircuitState.HALF_OPEN).update(
            probe_at=now + retry_in
        )

    async def reserve(self, channel: str, count: int, now: datetime) -> list[datetime]:
        """`count` consecutive send slots of a paced channel, taken under the row's lock."""
        interval = self.config.rates[channel].interval
        async with transaction() as connection:
            state = await ChannelState.filter(channel=channel).select_for_update().using_db(connection).get()
            first = max(now, state.next_slot_at or now)
            slots = [first + interval * n for n in range(count)]
            state.next_slot_at = first + interval * count
            await state.save(using_db=connection, update_fields=["next_slot_at", "updated_at"])
        self.states[channel] = state
        return slots

    async def after_attempt(
        self,
        channel: str,
        *,
        outcome: AttemptOutcome,
        provider_status: int | None,
        retry_after: float | None,
        probe: bool,
        now: datetime,
    ) -> bool:
        """Learn from one attempt; return whether it used up one of the message's attempts.

        A suppressed address never reached the provider: it tells nothing about the channel (a probe
        that met one lets the next message probe at once)."""
        if outcome is AttemptOutcome.SUPPRESSED:
            if probe:
                await self.no_probe_sent(channel, now, timedelta(0))
            return True
        pause = (
            outcome is AttemptOutcome.RETRYABLE
            and provider_status in PAUSING_STATUSES
            and retry_after is not None
        )
        if pause:
            await self._pause(channel, min(retry_after, MAX_PAUSE_SECONDS), now)
        if probe:
            await self._probe_ended(channel, up=outcome is not AttemptOutcome.RETRYABLE, now=now)
            return outcome is not AttemptOutcome.RETRYABLE
        if pause:
            return False
        if outcome is AttemptOutcome.RETRYABLE:
            await self._failed(channel, now)
        elif (state := self.states.get(channel)) is not None and state.failures:
            await ChannelState.filter(channel=channel, circuit=CircuitState.CLOSED).update(
                failures=0, failures_since=None
            )
            state.failures = 0
        return True

    async def set_circuit(
        self, channel: str, circuit: CircuitState, *, by: str, now: datetime
    ) -> ChannelState:
        """An operator opens a circuit (it stays open, without probes) or closes it."""
        if circuit is CircuitState.OPEN:
            updates = {"circuit": circuit, "opened_at": now, "opened_by": by, "probe_at": None}
        else:
            updates = dict(_CLOSED)
        found = await ChannelState.filter(channel=channel).update(**updates)
        if not found:
            raise ChannelNotFound("No installed channel has this name; GET /channels lists them.")
        log.warning("circuit set by hand", extra={"channel": channel, "circuit": circuit, "by": by})
        return await ChannelState.get(channel=channel)

    async def reroute(self, channel: str, queue: LeasedQueue, now: datetime) -> int:
        """Send the waiting messages of a channel that is not closed, which have a fallback, to it:
        each move and its `fallback` event (naming the circuit) in one transaction, so the caller
        hears of every hop and no hop goes unrecorded."""
        waiting = (
            await Notification.filter(channel=channel, status=queue.waiting)
            .exclude(fallback_channels=[])
            .limit(REROUTE_BATCH)
        )
        if not waiting:
            return 0
        why = self._circuit_reason(channel)
        moved = 0
        async with transaction() as connection:
            for notification in waiting:
                following = notification.fallback_channels[0]
                if not await queue.update_waiting(
                    Q(id=notification.id, channel=channel),
                    connection,
                    channel=following,
                    fallback_channels=list(notification.fallback_channels[1:]),
                    attempts_on_channel=0,
                    next_attempt_at=now,
                ):
                    continue  # a worker leased it, or it moved on, since it was read
                await record_event(
                    notification,
                    NotificationStatus.QUEUED,
                    channel=following,
                    source=EventSource.GATEWAY,
                    now=now,
                    connection=connection,
                    reason=f"{why}: trying {following}",
                    kind="fallback",
                )
                moved += 1
        if moved:
            log.info(
                "circuit not closed: messages go on to their fallback",
                extra={"channel": channel, "moved": moved},
            )
        return moved

    def _circuit_reason(self, channel: str) -> str:
        """`the sms circuit is open (opened by an operator)`, as the cached state says."""
        state = self.states.get(channel)
        if state is None:
            return f"the {channel} circuit is not closed"
        said = f"the {channel} circuit is {str(state.circuit).replace('_', '-')}"
        if state.opened_by == BY_FAILURES:
            return f"{said} (opened after repeated failures)"
        return f"{said} (opened by {state.opened_by})" if state.opened_by else said

    # -- writes ----------------------------------------------------------------------------

    async def _pause(self, channel: str, seconds: float, now: datetime) -> None:
        until = now + timedelta(seconds=seconds)
        # Only ever lengthens a pause: two processes told different things keep the later.
        lengthen = Q(paused_until__isnull=True) | Q(paused_until__lt=until)
        await ChannelState.filter(lengthen, channel=channel).update(paused_until=until)
        if (state := self.states.get(channel)) is not None:
            state.paused_until = max(until, state.paused_until or until)
        log.warning("provider asked for a pause", extra={"channel": channel, "seconds": seconds})

    async def _probe_ended(self, channel: str, *, up: bool, now: datetime) -> None:
        half_open = ChannelState.filter(channel=channel, circuit=CircuitState.HALF_OPEN)
        if up:
            changed = await half_open.update(**_CLOSED)
        else:
            changed = await half_open.update(circuit=CircuitState.OPEN, probe_at=now + self.config.cooldown)
        if changed:
            self.metrics.transitions.labels(channel, "closed" if up else "open").inc()
            log.warning(
                "probe %s: circuit %s",
                "succeeded" if up else "failed",
                "closed" if up else "open again",
                extra={"channel": channel},
            )
        await self.refresh(now)

    async def _failed(self, channel: str, now: datetime) -> None:
        """Count a retryable failure; the one that reaches the limit opens the circuit."""
        rule = self.config.breaker(channel)
        if rule is None:
            return
        async with transaction() as connection:
            state = (
                await ChannelState.filter(channel=channel).select_for_update().using_db(connection).first()
            )
            if state is None:
                return
            if state.failures_since is None or now - state.failures_since > rule.window:
                state.failures, state.failures_since = 0, now
            state.failures += 1
            opens = state.circuit is CircuitState.CLOSED and state.failures >= rule.failures
            if opens:
                state.circuit, state.opened_at, state.opened_by = CircuitState.OPEN, now, BY_FAILURES
                state.probe_at = now + self.config.cooldown
            await state.save(using_db=connection)
        self.states[channel] = state
        if opens:
            self.metrics.transitions.labels(channel, "open").inc()
            log.warning(
                "circuit open after %s failures in %s", state.failures, rule.spec, extra={"channel": channel}
            )
