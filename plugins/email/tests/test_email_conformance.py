"""The e-mail channel against the shared channel conformance kit."""

from notification_gateway.testing import ChannelConformance
from notification_gateway_email import EmailChannel


class TestEmailChannelConformance(ChannelConformance):
    channel_class = EmailChannel
    address = "ada.lovelace@example.com"
    unusable_addresses = (
        "",
        "   ",
        "ada.lovelace",
        "ada.lovelace@",
        "@example.com",
        "ada@@example.com",
        "ada@localhost",
    )
