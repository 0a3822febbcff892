"""The push channel: one POST to an ntfy-compatible publish API per message."""

from __future__ import annotations

import re
from urllib.parse import quote

import aiohttp

from notification_gateway.channels import (
    Channel,
    DeliveryError,
    Message,
    Receipt,
    RecipientUnreachable,
    deliver_http,
)
from notification_gateway_push.redaction import redacted_error, redacted_receipt
from notification_gateway_push.title import title_header

_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PushChannel(Channel):
    """Publishes the message text to the recipient's ntfy topic; the title goes in the `Title` header."""

    name = "push"
    recipient_field = "push_topic"
    description = "Push notifications through an ntfy-compatible publish API."

    def __init__(self, *, url: str, token: str | None, timeout_seconds: float) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self.timeout_seconds = timeout_seconds

    def check_address(self, value: str) -> str:
        """The topic as given, if ntfy would accept it as a topic name."""
        topic = value.strip()
        if not _TOPIC.fullmatch(topic):
            raise RecipientUnreachable(f"the {self.recipient_field} is not a valid ntfy topic name")
        return topic

    def topic_url(self, topic: str) -> str:
        """`{base}/{topic}`, with the topic quoted as one path segment whatever it holds."""
        return f"{self.url}/{quote(topic, safe='')}"

    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        topic = self.address_of(message.recipient)
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if message.title and message.title.strip():
            headers["Title"] = title_header(message.title.strip())
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            receipt = await deliver_http(
                session,
                self.topic_url(topic),
                timeout_seconds=self.timeout_seconds,
                headers=headers,
                data=message.text.encode("utf-8", errors="replace"),
            )
        except DeliveryError as exc:
            raise redacted_error(exc, topic) from None
        return redacted_receipt(receipt, topic)
