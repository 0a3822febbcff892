"""The SMS channel against the shared channel conformance kit."""

from notification_gateway.testing import ChannelConformance
from notification_gateway_sms import SmsChannel


class TestSmsChannelConformance(ChannelConformance):
    channel_class = SmsChannel
    address = "+447451277972"
    # National format (no region to assume), too short, letters, and a number no plan allocates.
    unusable_addresses = ("", "   ", "07451277972", "+44", "call me maybe", "+15555555555")
