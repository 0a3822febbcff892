"""The SMS channel: one POST to the SMS delivery API per message."""

import json
from collections.abc import Mapping
from datetime import datetime

import phonenumbers

from notification_gateway import (
    HttpChannel,
    InboundMessage,
    Message,
    ProviderReceipt,
    hookimpl,
    json_receipts,
)


class SmsChannel(HttpChannel):
    """Sends the message text to the recipient's phone number through the delivery API."""

    name = "sms"
    recipient_field = "phone_number"
    env_prefix = "SMS"
    default_url = "https://dev.sanogenetics.com/dev/home-test/sms-delivery-service"
    description = "SMS through the SMS delivery API."

    def check_address(self, value: str) -> str:
        """E.164. No default region: the gateway stores E.164, so a national number is a bug."""
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            raise ValueError("not a phone number") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("not a valid phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    def build_request(self, message: Message) -> tuple[dict, dict]:
        return {"recipient": message.address, "message": message.text}, {}

    def parse_receipt(self, headers: Mapping[str, str], body: bytes) -> list[ProviderReceipt]:
        """The provider's receipts come in the common JSON shape."""
        return json_receipts(body)

    def parse_inbound(self, headers: Mapping[str, str], body: bytes) -> list[InboundMessage]:
        """Texts users sent the service (`STOP` opts out): a JSON list of events, like receipts."""
        return [
            InboundMessage(
                sender=event["from"],
                text=event["text"],
                occurred_at=datetime.fromisoformat(event["occurred_at"]),
                event_id=event["id"],
            )
            for event in json.loads(body)
            if event["type"] == "inbound"
        ]


@hookimpl
def register_channels(register):
    register(SmsChannel)
