"""The e-mail channel against the shared channel conformance kit."""

from __future__ import annotations

import pytest

from notification_gateway.channels import Recipient
from notification_gateway.testing import ChannelConformance
from notification_gateway_email.channel import EmailChannel


class TestEmailChannelConformance(ChannelConformance):
    @pytest.fixture
    def make_channel(self):
        return EmailChannel

    @pytest.fixture
    def recipient(self):
        return Recipient(id="u_1", name="Ada Lovelace", contacts={"email": "ada.lovelace@example.com"})

    @pytest.fixture
    def unusable_addresses(self):
        return (
            "",
            "   ",
            "ada.lovelace",
            "ada.lovelace@",
            "@example.com",
            "ada@@example.com",
            "ada@localhost",
        )
