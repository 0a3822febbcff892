"""The e-mail channel: one POST to the e-mail delivery API per message."""

from collections.abc import Mapping

from email_validator import validate_email

from notification_gateway import HttpChannel, Message, ProviderReceipt, hookimpl, json_receipts


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
        """The provider's receipts come in the common JSON shape."""
        return json_receipts(body)


@hookimpl
def register_channels(register):
    register(EmailChannel)
