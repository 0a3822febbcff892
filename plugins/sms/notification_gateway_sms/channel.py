"""The SMS channel: one POST to the SMS delivery API per message."""

from __future__ import annotations

import aiohttp
import phonenumbers

from notification_gateway.channels import Channel, Message, Receipt, RecipientUnreachable, deliver_http


class SmsChannel(Channel):
    """Sends the message text to the recipient's phone number through the delivery API."""

    name = "sms"
    recipient_field = "phone_number"
    description = "SMS through the SMS delivery API."

    def __init__(self, *, url: str, token: str, timeout_seconds: float) -> None:
        self.url = url
        self._token = token
        self.timeout_seconds = timeout_seconds

    def check_address(self, value: str) -> str:
        """The number in E.164. No default region: the gateway stores E.164, so a national number is a bug."""
        try:
            number = phonenumbers.parse(value.strip(), None)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise RecipientUnreachable(f"the {self.recipient_field} is not a valid E.164 phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        address = self.address_of(message.recipient)
        return await deliver_http(
            session,
            self.url,
            timeout_seconds=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self._token}"},
            json_body={"recipient": address, "message": message.text},
        )
