"""The conformance kit catches each way a plugin can break the contract, and passes a sound one.

Each broken channel below is run through the kit in a pytest of its own (strict
asyncio mode, as a third-party plugin's suite might be); exactly the kit tests
for the broken rule fail.
"""

from __future__ import annotations

import re

import pytest

pytest_plugins = ["pytester"]

CHANNELS = """
from notification_gateway import HttpChannel, RecipientUnreachable, PermanentDeliveryError
from notification_gateway.testing import ChannelConformance


class Sound(HttpChannel):
    name = "chat"
    recipient_field = "chat_handle"

    def check_address(self, value):
        if not value.startswith("@") or " " in value:
            raise ValueError("not a handle")
        return value.lower()

    def build_request(self, message):
        return {"to": message.address, "text": message.text}, {}


class BadName(Sound):
    name = "Chat Channel"


class NotIdempotent(Sound):
    def check_address(self, value):
        return "@" + super().check_address(value)


class AcceptsAnything(Sound):
    def check_address(self, value):
        return value


class IgnoresTheAddress(Sound):
    def build_request(self, message):
        return {"to": "@everyone", "text": message.text}, {}


class CallsRefusalsUnreachable(Sound):
    async def send(self, message, session):
        try:
            return await super().send(message, session)
        except PermanentDeliveryError as exc:
            raise RecipientUnreachable(exc.reason, provider_status=exc.provider_status) from None


class TestSound(ChannelConformance):
    channel_class = Sound
    address = "@Ada"
    unusable_addresses = ("ada", "@ada lovelace")
"""

BROKEN = {
    "BadName": {"test_metadata"},
    "NotIdempotent": {"test_the_address_check_is_idempotent"},
    "AcceptsAnything": {"test_unusable_addresses_are_refused_without_a_request_or_a_quote"},
    "IgnoresTheAddress": {"test_one_message_is_one_request_with_the_token_and_the_address"},
    "CallsRefusalsUnreachable": {"test_a_provider_refusal_is_permanent_but_not_an_unreachable_recipient"},
}


@pytest.fixture
def kit_run(pytester):
    body = CHANNELS + "".join(
        f"\n\nclass Test{name}(TestSound):\n    channel_class = {name}\n" for name in BROKEN
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_channels=body)
    return pytester.runpytest("-p", "no:cacheprovider", "-q", "-rf", "-W", "error")


def test_each_broken_rule_fails_exactly_its_kit_tests_and_a_sound_channel_passes(kit_run):
    failed: dict[str, set[str]] = {}
    for line in kit_run.outlines:
        match = re.match(r"FAILED test_channels\.py::Test(\w+)::(\w+)", line)
        if match:
            failed.setdefault(match[1], set()).add(match[2])

    assert failed == BROKEN
    assert kit_run.parseoutcomes()["passed"] > 0


VERSION_1 = """
import pytest
from notification_gateway.channels import Channel, Recipient, RecipientUnreachable, deliver_http
from notification_gateway.testing import ChannelConformance


class OldChat(Channel):
    name = "oldchat"
    recipient_field = "chat_handle"

    def __init__(self, *, url, token, timeout_seconds):
        self.url, self.token, self.timeout_seconds = url, token, timeout_seconds

    def check_address(self, value):
        if not value.strip().startswith("@"):
            raise RecipientUnreachable("not a handle")
        return value.strip()

    async def send(self, message, session):
        handle = self.address_of(message.recipient)
        return await deliver_http(
            session,
            self.url,
            timeout_seconds=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self.token}"},
            json_body={"to": handle, "text": message.text},
        )


class TestOldChat(ChannelConformance):
    @pytest.fixture
    def make_channel(self):
        return OldChat

    @pytest.fixture
    def recipient(self):
        return Recipient(id="u_1", name="Ada", contacts={"chat_handle": "@ada"})

    @pytest.fixture
    def unusable_addresses(self):
        return ("", "ada")
"""


def test_a_kit_subclass_written_for_version_1_still_runs_and_passes(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_old_channel=VERSION_1)

    result = pytester.runpytest("-p", "no:cacheprovider", "-q", "-W", "error")

    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0, result.stdout.str()[-3000:]
    assert outcomes["passed"] >= 15
