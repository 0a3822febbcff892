"""Whether the gateway still sends to a user on each channel: addresses it suppressed (an e-mail that
bounced, a number undelivered several times running) and numbers that opted out (replied STOP).

The gateway keeps these, by address and hashed; this service asks it (`GET /suppressions`) for each
channel the user has an address for, all at once, within the client's timeout. Reading them is
optional: when the gateway cannot answer, the answer says why instead, and the page still shows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orders_service.gateway import GatewayClient, GatewayTokenRefused, GatewayUnavailable, token_refused
from orders_service.models import User
from orders_service.notifications import ChannelDirectory, ChannelsUnavailable, recipient_of

#: How each cause reads after "suppressed: " (the gateway's reasons).
CAUSES = {
    "bounced": "bounced",
    "undelivered": "undelivered several times running",
    "opted_out": "opted out (replied STOP)",
}


@dataclass(frozen=True)
class Standing:
    """One channel the user has an address for, and the suppression in force there, if any."""

    channel: str
    reason: str | None = None  # bounced, undelivered, opted_out
    since: datetime | None = None

    @property
    def suppressed(self) -> bool:
        return self.reason is not None

    @property
    def cause(self) -> str | None:
        """`bounced`, `opted out (replied STOP)`...: what follows "suppressed: "."""
        return CAUSES.get(self.reason, self.reason) if self.reason else None


@dataclass(frozen=True)
class Standings:
    """Every channel's standing, or (`problem`) why the gateway could not say."""

    channels: list[Standing]
    problem: str | None = None

    def of(self, channel: str | None) -> Standing | None:
        return next((found for found in self.channels if found.channel == channel), None)


def _standing(channel: str, found: list[dict[str, Any]]) -> Standing:
    if not found:
        return Standing(channel)
    entry = found[0]
    return Standing(channel, entry["reason"], datetime.fromisoformat(entry["suppressed_at"]))


async def of_user(
    user: User, *, directory: ChannelDirectory, gateway: GatewayClient, only: str | None = None
) -> Standings:
    """The user's standing on each channel the gateway offers and they have an address for (`only`
    that channel, if given)."""
    try:
        channels = await directory.channels()
    except ChannelsUnavailable as exc:
        return Standings([], exc.detail)
    except GatewayTokenRefused as exc:
        return Standings([], f"The notification gateway cannot be asked: {token_refused(exc.status)}.")
    contacts = recipient_of(user)
    asked = {
        name: contacts[info.recipient_field]
        for name, info in sorted(channels.items())
        if info.recipient_field in contacts and only in (None, name)
    }
    try:
        answers = await asyncio.gather(
            *(gateway.suppressions(channel, address) for channel, address in asked.items())
        )
    except (GatewayUnavailable, KeyError, ValueError, TypeError) as exc:
        cause = str(exc) if isinstance(exc, GatewayUnavailable) else "its answer is unreadable"
        return Standings([], f"The notification gateway cannot say what it suppresses: {cause}.")
    return Standings([_standing(channel, found) for channel, found in zip(asked, answers, strict=True)])
