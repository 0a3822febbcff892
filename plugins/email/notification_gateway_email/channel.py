"""The e-mail channel: one POST to the e-mail delivery API per message."""

from __future__ import annotations

import aiohttp
from email_validator import EmailNotValidError, validate_email

from notification_gateway.channels import Channel, Message, Receipt, RecipientUnreachable, deliver_http


class EmailChannel(Channel):
    """Sends the message text to the recipient's e-mail address through the delivery API."""

    name = "email"
    recipient_field = "email"
    description = "E-mail through the e-mail delivery API."

    def __init__(self, *, url: str, token: str, timeout_seconds: float) -> None:
        self.url = url
        self._token = token
        self.timeout_seconds = timeout_seconds

    def check_address(self, value: str) -> str:
        """The normalized address; syntax only, since a DNS lookup per message would slow every send."""
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            # The validator's message can quote the address; ours never does.
            raise RecipientUnreachable(f"the {self.recipient_field} is not a valid e-mail address") from None

    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        address = self.address_of(message.recipient)
        return await deliver_http(
            session,
            self.url,
            timeout_seconds=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self._token}"},
            json_body={"recipient": address, "message": message.text},
        )
