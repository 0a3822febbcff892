"""The chat channel against the gateway's conformance kit."""

from notification_gateway_chat import ChatChannel

from notification_gateway.testing import ChannelConformance


class TestChatChannel(ChannelConformance):
    channel_class = ChatChannel
    address = "@Ada.Lovelace"  # one the channel accepts
    unusable_addresses = ("", "   ", "ada", "@", "@ada lovelace", "@" + "a" * 33)  # ones it must refuse
