"""Recipients' addresses are checked once, when `/notify` accepts the notification.

A channel's `check_address` normalises an address (an e-mail address's domain,
a phone number to E.164) and may be costly. `/notify` runs it once for each
installed channel (routing picks among those that reach the recipient) and
stores the results for the route's channel and each fallback beside the
contacts given, so delivery hands the stored address to the channel instead of
checking it again on every attempt. A fallback whose address is unusable stores none: its attempt
finds that out and moves on, as it would have.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from apikit.logs import mask_fields
from notification_gateway.contract import Recipient, RecipientUnreachable
from notification_gateway.plugins import ChannelRegistry

#: The key of the checked addresses, by channel, in a notification's stored `recipient`; log lines
#: (the SQL debug log among them) mask its value as they mask `contacts`.
ADDRESSES = "addresses"
mask_fields([ADDRESSES])


def checked_addresses(
    channels: ChannelRegistry, names: Iterable[str], recipient: Recipient
) -> dict[str, str]:
    """The address each of the channels `names` would send to, for those that have a usable one."""
    found = {}
    for name in dict.fromkeys(names):
        channel = channels.get(name)
        if channel is None:
            continue
        try:
            found[name] = channel.address_of(recipient)
        except RecipientUnreachable:
            continue
    return found


def checked_address(stored_recipient: Mapping[str, Any], channel: str) -> str | None:
    """The address checked at `/notify` for `channel`; None if none was (or the row predates it)."""
    return (stored_recipient.get(ADDRESSES) or {}).get(channel)
