"""The e-mail channel: one POST to the e-mail delivery API per message."""

import json
from collections.abc import Mapping
from datetime import datetime

from email_validator import validate_email

from notification_gateway import HttpChannel, Message, ProviderReceipt, hookimpl


class EmailChannel(HttpChannel):
    """Sends the message text to the recipient's e-mail address through the delivery API."""

    name = "email"
    recipient_field = "email"
    env_prefix = "EMAIL"
    default_url = "https://dev.sanogenetics.com/dev/home-test/email-delivery-service"
    description = "E-mail through the e-mail delivery API."

    def check_address(self, value: str) -> str:
        """Normalized; syntax only, since a DNS lookup per message would slow every send."""
        return validate_email(value, check_deliverability=False).normalized

    def build_request(self, message: Message) -> tuple[dict, dict]:
        return {"recipient": message.address, "message": message.text}, {}

    def parse_receipt(self, headers: Mapping[str, str], body: bytes) -> list[ProviderReceipt]:
        """The provider's receipts: a JSON list of events, each naming the send's `id` as `message_id`."""
        return [
            ProviderReceipt(
                reference=event["message_id"],
                status=event["status"],
                occurred_at=datetime.fromisoformat(event["occurred_at"]),
                event_id=event["id"],
                reason=event.get("reason"),
            )
            for event in json.loads(body)
            if event["type"] == "receipt"
        ]


@hookimpl
def register_channels(register):
    register(EmailChannel)
