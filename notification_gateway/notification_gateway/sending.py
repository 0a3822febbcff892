"""One attempt through one channel, as the gateway makes it: plugins write no redaction.

The gateway checks the address (once, at `/notify`: `message.address` arrives
checked; a message without one is checked here), hands it to the channel as `message.address`,
and keeps that address and the channel's credentials out of every log line
written while the channel works and out of the reason or detail it returns.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import aiohttp

from apikit.logs import hiding, redact
from notification_gateway.contract import Channel, DeliveryError, Message, Receipt, RetryableDeliveryError
from notification_gateway.http_channel import address_forms

log = logging.getLogger("notification_gateway.sending")


async def send(channel: Channel, message: Message, session: aiohttp.ClientSession) -> Receipt:
    """Deliver `message` through `channel` once; raise a DeliveryError whose reason is safe to keep."""
    raw = (message.recipient.contacts.get(channel.recipient_field) or "").strip()
    hidden = (*channel.credentials(), *address_forms(raw))
    with hiding(hidden):
        try:
            address = message.address or channel.address_of(message.recipient)
            hidden = (*hidden, *address_forms(address))
            with hiding(hidden):
                receipt = await channel.send(replace(message, address=address), session)
        except DeliveryError as exc:
            raise exc.with_reason(redact(exc.reason, hidden)) from None
        except Exception as exc:
            log.exception("channel %s raised", channel.name)
            raise RetryableDeliveryError(f"channel error ({type(exc).__name__})") from None
    if receipt.detail is None:
        return receipt
    return replace(receipt, detail=redact(receipt.detail, hidden))
