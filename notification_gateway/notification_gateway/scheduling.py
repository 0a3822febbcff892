"""When a notification becomes due: at once, at the caller's `send_at`, or when quiet hours end.

Both are due times on the queue row (`next_attempt_at`), never a sleep in a
process, so a restart loses no scheduled notification. Quiet hours are read in
the recipient's own time zone (`recipient.timezone`, else the gateway's
default); a `critical` notification ignores them.

Acceptance sets the first due time (`due_time`). Every later send is checked
again just before it goes (`QuietHours.ends_at`): a retry, a fallback hop to
another channel (after a failure, a bad receipt, a confirmation that never came
or an open circuit) or an operator's retry can come due at any hour, and the
channel it goes out on may have quiet hours the first one had not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apikit.errors import DomainError

MAX_AHEAD = timedelta(days=30)


class SendAtOutOfRange(DomainError):
    """`send_at` is further ahead than the gateway keeps notifications waiting."""


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError naming it if there is no such zone."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone (such as Europe/London)") from None


@dataclass(frozen=True)
class QuietWindow:
    """A daily window, in local time, in which a channel sends nothing; it may span midnight."""

    start: time
    end: time

    def ends_at(self, moment: datetime, zone: ZoneInfo) -> datetime | None:
        """When the window `moment` falls in ends (timezone-aware), or None if it falls in none."""
        local = moment.astimezone(zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside, end_day = self.start <= now < self.end, local.date()
        else:  # spans midnight: 21:00-08:00
            inside = now >= self.start or now < self.end
            end_day = local.date() + timedelta(days=1) if now >= self.start else local.date()
        if not inside:
            return None
        return datetime.combine(end_day, self.end, tzinfo=zone)


@dataclass(frozen=True)
class Due:
    """When a new notification may first be sent, and why it waits until then, if it does."""

    at: datetime
    waits_for: str | None = None


def due_time(
    *,
    now: datetime,
    send_at: datetime | None,
    quiet: QuietWindow | None,
    zone: ZoneInfo,
    critical: bool,
) -> Due:
    """The first moment the notification may be sent: not before `send_at`, never in quiet hours
    unless `critical`. Raises SendAtOutOfRange for a `send_at` more than 30 days ahead."""
    if send_at is not None and send_at - now > MAX_AHEAD:
        raise SendAtOutOfRange(
            f"send_at may be at most {MAX_AHEAD.days} days ahead (until {(now + MAX_AHEAD).isoformat()}).",
            pointer="#/send_at",
        )
    due = max(now, send_at) if send_at is not None else now
    waits_for: list[str] = []
    if due > now:
        waits_for.append("held until its send_at")
    if quiet is not None and not critical:
        quiet_until = quiet.ends_at(due, zone)
        if quiet_until is not None:
            due = quiet_until
            waits_for.append(f"quiet hours: waits until {quiet_until:%Y-%m-%d %H:%M} {zone.key} time")
    return Due(due, "; ".join(waits_for) or None)


@dataclass(frozen=True)
class QuietHours:
    """Each channel's quiet window, and the zone of recipients who name none."""

    windows: Mapping[str, QuietWindow] = field(default_factory=dict)
    default_zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))

    def zone(self, timezone: str | None) -> ZoneInfo:
        """The recipient's zone; the default if it named none, or one this system no longer knows."""
        if not timezone:
            return self.default_zone
        try:
            return zone_named(timezone)
        except ValueError:
            return self.default_zone

    def ends_at(
        self, *, channel: str, timezone: str | None, critical: bool, now: datetime
    ) -> datetime | None:
        """When the quiet hours `now` falls in end, for a send on `channel` to a recipient in
        `timezone`; None if it may go now (no window, outside it, or `critical`)."""
        window = self.windows.get(channel)
        if window is None or critical:
            return None
        return window.ends_at(now, self.zone(timezone))
