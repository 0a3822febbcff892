"""The push channel against the shared channel conformance kit."""

from notification_gateway.testing import ChannelConformance
from notification_gateway_push import PushChannel


class TestPushChannelConformance(ChannelConformance):
    channel_class = PushChannel
    address = "kit-orders-u1-7f3a9c2e"
    # Path tricks, a URL, spaces and dots, non-ASCII, a newline, and one character too many.
    unusable_addresses = (
        "",
        "   ",
        "../admin",
        "orders/ada",
        "https://ntfy.sh/orders",
        "ada lovelace",
        "ada.lovelace",
        "ada?x=1",
        "bestellungen-für-ada",
        "ada\norders",
        "a" * 65,
    )
