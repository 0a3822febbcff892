"""The SMS channel against the shared channel conformance kit."""

from __future__ import annotations

import pytest

from notification_gateway.channels import Recipient
from notification_gateway.testing import ChannelConformance
from notification_gateway_sms.channel import SmsChannel


class TestSmsChannelConformance(ChannelConformance):
    @pytest.fixture
    def make_channel(self):
        return SmsChannel

    @pytest.fixture
    def recipient(self):
        return Recipient(id="u_1", name="Ada Lovelace", contacts={"phone_number": "+447451277972"})

    @pytest.fixture
    def unusable_addresses(self):
        # National format (no region to assume), too short, letters, and a number no plan allocates.
        return ("", "   ", "07451277972", "+44", "call me maybe", "+15555555555")
