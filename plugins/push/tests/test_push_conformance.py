"""The push channel against the shared channel conformance kit."""

from __future__ import annotations

import pytest

from notification_gateway.channels import Recipient
from notification_gateway.testing import ChannelConformance
from notification_gateway_push.channel import PushChannel


class TestPushChannelConformance(ChannelConformance):
    @pytest.fixture
    def make_channel(self):
        return PushChannel

    @pytest.fixture
    def recipient(self):
        return Recipient(id="u_1", name="Ada Lovelace", contacts={"push_topic": "kit-orders-u1-7f3a9c2e"})

    @pytest.fixture
    def unusable_addresses(self):
        # Path tricks, a URL, spaces and dots, non-ASCII, a newline, and one character too many.
        return (
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
