"""Routing rules: a table of cases, and a rules file that is checked at start."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from notification_gateway import Recipient
from notification_gateway.app import create_app
from notification_gateway.plugins import load_channels
from notification_gateway.routing import (
    RoutingFileError,
    RoutingRules,
    UnknownChannel,
    Unreachable,
    parse_duration,
)
from notification_gateway.settings import DEFAULT_ROUTING_FILE
from orders_service.lifecycle import SequencingType
from tests.notification_gateway.conftest import PigeonPlugin

RULES = RoutingRules.load(DEFAULT_ROUTING_FILE)
BOTH = Recipient("u_1", "Ada", {"email": "ada@example.com", "phone_number": "+447451277972"})
EMAIL_ONLY = Recipient("u_2", "Grace", {"email": "grace@example.com"})
PHONE_ONLY = Recipient("u_3", "Alan", {"phone_number": "+447911123456"})
NOBODY = Recipient("u_4", "Nobody", {})
WES = {"kit_type": "whole-exome-sequencing"}
WGS = {"kit_type": "whole-genome-sequencing"}


@pytest.fixture
def channels(provider_env):
    return load_channels(frozenset({"email", "sms", "push"}), [("pigeon", PigeonPlugin())])


@pytest.mark.parametrize(
    ("explicit", "attributes", "recipient", "channel", "fallbacks"),
    [
        (None, WES, BOTH, "sms", ("email",)),
        (None, WGS, BOTH, "email", ("sms",)),  # the e-mail rule's own fallback
        (None, {}, BOTH, "email", ("sms",)),
        (None, WES, EMAIL_ONLY, "email", ()),
        (None, WGS, PHONE_ONLY, "sms", ()),  # rule says email, no address: its fallback, sms
        (None, WES, PHONE_ONLY, "sms", ()),
        (None, WGS, NOBODY, None, None),
        ("sms", WGS, BOTH, "sms", ()),  # an explicit channel gets no fallback unless asked
        ("email", WES, BOTH, "email", ()),
        ("pigeon", {}, Recipient("u_5", "B", {"loft": "7", "email": "b@example.com"}), "pigeon", ()),
    ],
)
def test_routing_table(channels, explicit, attributes, recipient, channel, fallbacks):
    if channel is None:
        with pytest.raises(Unreachable):
            RULES.resolve(explicit=explicit, attributes=attributes, recipient=recipient, channels=channels)
        return
    route = RULES.resolve(explicit=explicit, attributes=attributes, recipient=recipient, channels=channels)

    assert (route.channel, route.fallbacks) == (channel, fallbacks)


@pytest.mark.parametrize(
    ("explicit", "fallback", "attributes", "expected"),
    [
        ("sms", ["email"], WGS, ("email",)),
        ("sms", ["sms", "email", "email"], WGS, ("email",)),  # itself and repeats are dropped
        ("sms", "routing", WES, ("email",)),  # the whole-exome rule's list: the file's
        ("email", "routing", WGS, ("sms",)),  # the e-mail rule's own list
        ("email", [], WGS, ()),
        (None, ["email"], WES, ("email",)),
    ],
)
def test_a_request_asks_for_its_fallbacks(channels, explicit, fallback, attributes, expected):
    route = RULES.resolve(
        explicit=explicit, attributes=attributes, recipient=BOTH, channels=channels, fallback=fallback
    )

    assert route.fallbacks == expected


def test_the_rules_confirm_within_comes_with_its_fallbacks(channels):
    route = RULES.resolve(explicit=None, attributes=WGS, recipient=BOTH, channels=channels)
    explicit = RULES.resolve(explicit="email", attributes=WGS, recipient=BOTH, channels=channels)

    assert route.confirm_within_seconds == 600
    assert explicit.confirm_within_seconds is None


def test_a_fallback_naming_an_unknown_channel_points_at_it(channels):
    with pytest.raises(UnknownChannel, match="No channel is called 'fax'") as caught:
        RULES.resolve(
            explicit="sms", attributes={}, recipient=BOTH, channels=channels, fallback=["email", "fax"]
        )

    assert caught.value.pointer == "#/fallback/1"


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("1h30m", 5400), ("2d", 172800), ("500ms", 0.5)]
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10", "m", "10 minutes", "-1m", "0s", "8d", "1x"])
def test_bad_durations_are_refused(text):
    with pytest.raises(ValueError, match=r"duration|at most 7 days|more than 0"):
        parse_duration(text)


def test_a_bad_confirm_within_stops_the_start_naming_the_rule(tmp_path):
    with pytest.raises(RoutingFileError, match="rule 1, confirm_within"):
        _rules(tmp_path, '[[rules]]\nchannel = "sms"\nconfirm_within = "soon"\n')


def test_a_rule_name_too_long_to_quote_in_a_reason_stops_the_start(tmp_path):
    with pytest.raises(RoutingFileError, match="rule 1, name: String should have at most 100 characters"):
        _rules(tmp_path, f'[[rules]]\nname = "{"n" * 101}"\nchannel = "sms"\n')


def test_an_explicit_unknown_channel_names_the_installed_ones(channels):
    with pytest.raises(UnknownChannel, match="Available: email, pigeon, push, sms"):
        RULES.resolve(explicit="fax", attributes={}, recipient=BOTH, channels=channels)


def test_nobody_with_no_address_is_unreachable(channels):
    with pytest.raises(Unreachable, match="No installed channel can reach this recipient"):
        RULES.resolve(explicit=None, attributes={}, recipient=NOBODY, channels=channels)


def test_a_list_in_when_means_one_of(tmp_path, channels):
    rules = _rules(tmp_path, 'fallback = []\n[[rules]]\nwhen = { kit_type = ["a", "b"] }\nchannel = "sms"\n')

    for kit, expected in (("a", "sms"), ("b", "sms")):
        assert (
            rules.resolve(
                explicit=None, attributes={"kit_type": kit}, recipient=BOTH, channels=channels
            ).channel
            == expected
        )
    with pytest.raises(Unreachable):
        rules.resolve(explicit=None, attributes={"kit_type": "c"}, recipient=BOTH, channels=channels)


def test_a_rule_naming_a_missing_channel_is_skipped_for_the_fallback_and_named_at_start(tmp_path, channels):
    rules = _rules(tmp_path, 'fallback = ["email", "telex"]\n[[rules]]\nname = "faxes"\nchannel = "fax"\n')

    assert rules.resolve(explicit=None, attributes={}, recipient=BOTH, channels=channels).channel == "email"
    assert rules.problems(channels) == [
        "routing rule 'faxes' names channel 'fax', which is not installed: it never matches",
        "routing fallback 'telex' is not an installed channel: it is never used",
    ]


def test_rules_matching_attributes_without_declared_values_are_named_at_start(tmp_path, channels):
    rules = _rules(tmp_path, '[[rules]]\nchannel = "sms"\nwhen = { kit_type = "wes" }\n')

    (problem,) = rules.problems(channels)
    assert problem.endswith(
        "declares no [attributes], so a rule matching a value callers never send would go unnoticed"
    )


def test_the_shipped_rules_are_sound_and_declare_exactly_the_kits_the_orders_service_sells(channels):
    assert RULES.problems(channels) == []
    assert RULES.attributes == {"kit_type": [kit.value for kit in SequencingType]}


async def test_start_up_warns_once_per_problem(aiohttp_client, gateway_settings, tmp_path, caplog):
    path = tmp_path / "routing.toml"
    path.write_text('fallback = ["email"]\n[[rules]]\nname = "faxes"\nchannel = "fax"\n')

    create_app(gateway_settings.model_copy(update={"routing_file": path}))

    warned = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warned == ["routing rule 'faxes' names channel 'fax', which is not installed: it never matches"]


def _rules(tmp_path: Path, text: str) -> RoutingRules:
    path = tmp_path / "routing.toml"
    path.write_text(text)
    return RoutingRules.load(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[rules]]\nwhen = {}\n", "rule 1, channel: Field required"),
        ('[[rules]]\nchannel = "sms"\nwhen = "x"\n', "rule 1, when: Input should be a valid dictionary"),
        ('[[rules]]\nchannel = "sms"\nwhen = { kit = 3 }\n', "rule 1, when.kit: must be a string or a list"),
        ('[[rules]]\nchannel = "sms"\npriority = 1\n', "rule 1, priority: Extra inputs are not permitted"),
        ('fallback = "email"\n', "fallback: Input should be a valid list"),
        ("colour = 1\n", "colour: Extra inputs are not permitted"),
        ("[[rules]\n", "Expected"),
        (
            '[attributes]\nkit_type = ["wgs", "wes"]\n'
            '[[rules]]\nchannel = "sms"\nwhen = { kit_type = "wxs" }\n',
            "rule 1 matches kit_type = 'wxs', which callers never send (declared in [attributes]: wgs, wes)",
        ),
        (
            '[attributes]\nkit_type = ["wes"]\n[[rules]]\nchannel = "sms"\nwhen = { kit = ["wes"] }\n',
            "rule 1 matches on 'kit', which [attributes] does not declare",
        ),
    ],
)
def test_a_broken_rules_file_is_refused_with_where_and_why(tmp_path, text, message):
    with pytest.raises(RoutingFileError, match=r"routing\.toml") as refused:
        _rules(tmp_path, text)

    assert message in str(refused.value)
