"""The push channel: one POST per message to an ntfy-compatible publish API, `{PUSH_API_URL}/{topic}`."""

import re
from collections.abc import Mapping
from urllib.parse import quote

from notification_gateway import HttpChannel, Message, ProviderReceipt, hookimpl, json_receipts
from notification_gateway_push.title import title_header

_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")


class PushChannel(HttpChannel):
    """Publishes the message text to the recipient's ntfy topic; the title goes in the `Title` header.

    No default URL, so patients' notifications never reach a public ntfy server by accident; the token
    is optional because a self-hosted ntfy may allow anonymous publishing.
    """

    name = "push"
    recipient_field = "push_topic"
    env_prefix = "PUSH"
    token_required = False
    description = "Push notifications through an ntfy-compatible publish API."

    def check_address(self, value: str) -> str:
        """The topic as given, if ntfy would accept it as a topic name."""
        if not _TOPIC.fullmatch(value):
            raise ValueError("not an ntfy topic name")
        return value

    def provider_url(self, message: Message) -> str:
        """`{base}/{topic}`, with the topic quoted as one path segment whatever it holds."""
        return f"{str(self.settings.api_url).rstrip('/')}/{quote(message.address, safe='')}"

    def build_request(self, message: Message) -> tuple[bytes, dict]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if message.title and message.title.strip():
            headers["Title"] = title_header(message.title.strip())
        return message.text.encode("utf-8", errors="replace"), headers

    def parse_receipt(self, headers: Mapping[str, str], body: bytes) -> list[ProviderReceipt]:
        """The provider's receipts come in the common JSON shape."""
        return json_receipts(body)


@hookimpl
def register_channels(register):
    register(PushChannel)
