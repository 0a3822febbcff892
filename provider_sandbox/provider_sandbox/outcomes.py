"""What becomes of an accepted message, chosen by its address ("magic test addresses").

Real providers offer test addresses whose outcome is known in advance; the
sandbox does the same, so tests can ask for a bounce or a silent provider by
choosing the recipient. The table is documented in the README.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from provider_sandbox.channels import EMAIL, SMS, Channel

ReceiptStatus = Literal["delivered", "undelivered", "bounced"]


@dataclass(frozen=True)
class Outcome:
    """The status a receipt reports, and its machine-readable reason code."""

    status: ReceiptStatus
    reason: str


DELIVERED = Outcome("delivered", "ok")
EMAIL_BOUNCED = Outcome("bounced", "mailbox_unavailable")
SMS_UNDELIVERED = Outcome("undelivered", "handset_unreachable")
PUSH_BOUNCED = Outcome("bounced", "subscription_gone")
PUSH_UNDELIVERED = Outcome("undelivered", "device_unreachable")

# Suffix -> outcome, or None for "this message never gets a receipt".
_EMAIL_LOCAL_PART_SUFFIXES: dict[str, Outcome | None] = {"+bounce": EMAIL_BOUNCED, "+noreceipt": None}
_PHONE_NUMBER_SUFFIXES: dict[str, Outcome | None] = {"0001": SMS_UNDELIVERED, "0002": None}
_PUSH_TOPIC_SUFFIXES: dict[str, Outcome | None] = {
    "-bounce": PUSH_BOUNCED,
    "-undelivered": PUSH_UNDELIVERED,
    "-noreceipt": None,
}


def outcome_for(channel: Channel, recipient: str) -> Outcome | None:
    """The receipt an accepted message to `recipient` will get; None when it gets none.

    `recipient` is what the provider accepted: an e-mail address, a phone
    number or a push topic. Suffixes are matched case-insensitively.
    """
    if channel == EMAIL:
        key, suffixes = recipient.rpartition("@")[0].lower(), _EMAIL_LOCAL_PART_SUFFIXES
    elif channel == SMS:
        key, suffixes = recipient, _PHONE_NUMBER_SUFFIXES
    else:
        key, suffixes = recipient.lower(), _PUSH_TOPIC_SUFFIXES
    for suffix, outcome in suffixes.items():
        if key.endswith(suffix):
            return outcome
    return DELIVERED
