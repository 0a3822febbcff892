"""The channel contract, version 2: what a plugin gives the gateway and what it gets back.

A channel says which contact point it needs (`recipient_field`) and how to check
one (`check_address`), and sends one message with `send`. The gateway checks the
address when it accepts the notification and hands it over as `message.address`; `send` returns
a `Receipt` when the provider accepted the message and raises
`RetryableDeliveryError` (try again later) or `PermanentDeliveryError` (do not)
otherwise. The gateway, not the plugin, keeps the address and the provider
token out of every reason, detail and log line.

Optional capabilities are extra methods a channel may define; the gateway looks
for them and a channel without one simply lacks that capability:

- receipts: `parse_receipt(headers, body) -> list[ProviderReceipt]` reads the
  provider's delivery receipts (`POST /receipts/{channel}`);
- inbound messages: `parse_inbound(headers, body) -> list[InboundMessage]` reads
  users' replies such as `STOP` (`POST /inbound/{channel}`).

Both raise ValueError for a body they cannot read. Before either is called the
gateway asks `verify_webhook(headers, body)` whether the provider signed the
request; `HttpChannel` verifies the common HMAC-SHA256 scheme itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal

if TYPE_CHECKING:
    import aiohttp

#: What `GET /channels`, the routing file and callers may call a channel.
CHANNEL_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"


@dataclass(frozen=True)
class Recipient:
    """Who to reach: an id and name, and contact points keyed by field (`email`, `phone_number`, ...)."""

    id: str
    name: str
    contacts: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    """One rendered notification on its way to one recipient.

    `address` is the recipient's contact point for this channel as `check_address`
    returned it; the gateway fills it in before `send`.
    """

    notification_id: str
    recipient: Recipient
    text: str
    title: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    address: str = ""


@dataclass(frozen=True)
class Receipt:
    """The provider accepted the message. `detail` is a short, masked summary of its answer."""

    provider_status: int
    provider_reference: str | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProviderReceipt:
    """What the provider later reported about a message it accepted.

    `reference` is the provider's id for the message (the `provider_reference` of
    the send's `Receipt`); `event_id` is the provider's id for this report, so a
    repeated report is applied once; `reason` is the provider's code (`ok`,
    `mailbox_unavailable`, ...).
    """

    reference: str
    status: Literal["delivered", "undelivered", "bounced"]
    occurred_at: datetime
    event_id: str
    reason: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message a user sent to the service (an SMS reply such as `STOP`), from `sender`'s address."""

    sender: str
    text: str
    occurred_at: datetime
    event_id: str


class DeliveryError(Exception):
    """The message was not delivered. `reason` is safe to store and log once the gateway redacted it."""

    def __init__(self, reason: str, *, provider_status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider_status = provider_status

    def with_reason(self, reason: str) -> DeliveryError:
        """The same kind of error with another reason, keeping its status and retry hint."""
        return type(self)(reason, provider_status=self.provider_status)


class RetryableDeliveryError(DeliveryError):
    """Try again later (timeout, connection error, 408, 429, 5xx); `retry_after` in seconds if known."""

    def __init__(
        self, reason: str, *, provider_status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(reason, provider_status=provider_status)
        self.retry_after = retry_after

    def with_reason(self, reason: str) -> RetryableDeliveryError:
        return type(self)(reason, provider_status=self.provider_status, retry_after=self.retry_after)


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (a provider's 4xx other than 408 and 429, an unusable recipient)."""


class RecipientUnreachable(PermanentDeliveryError):
    """The recipient has no usable address for this channel; the gateway tries a fallback channel."""


class ChannelConfigurationError(Exception):
    """A plugin's settings are missing or malformed; the gateway refuses to start and names the variable."""


class Channel(ABC):
    """One way to reach people. Plugins subclass this (or `HttpChannel`) and register the class."""

    #: Unique, lower-case name callers use, e.g. "sms" (see CHANNEL_NAME_PATTERN).
    name: ClassVar[str]
    #: The recipient contact field this channel needs, e.g. "phone_number". Logs mask its values.
    recipient_field: ClassVar[str]
    #: One line for `GET /channels`.
    description: ClassVar[str] = ""

    def check_address(self, value: str) -> str:
        """The address as the provider wants it; raise ValueError if it cannot take it.

        `value` comes stripped and non-empty. Checking a checked address must give it back unchanged.
        """
        return value

    @abstractmethod
    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        """Deliver `message` to `message.address`, using the gateway's shared `session`, with one request."""

    def credentials(self) -> tuple[str, ...]:
        """Secrets the gateway keeps out of reasons, details and logs (`HttpChannel`: its token)."""
        return ()

    def verify_webhook(self, headers: Mapping[str, str], body: bytes) -> bool:
        """Whether the provider signed this receipt or inbound request; refuse all unless overridden."""
        return False

    def address_of(self, recipient: Recipient) -> str:
        """The recipient's checked address; RecipientUnreachable, never quoting it, when there is none."""
        value = (recipient.contacts.get(self.recipient_field) or "").strip()
        if not value:
            raise RecipientUnreachable(f"the recipient has no {self.recipient_field}")
        try:
            return self.check_address(value)
        except RecipientUnreachable:
            raise
        except ValueError:
            # The checker's own message may quote the address; this one never does.
            raise RecipientUnreachable(
                f"the {self.recipient_field} is not usable on the {self.name} channel"
            ) from None
