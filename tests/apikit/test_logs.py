"""Logs carry the request id and never an e-mail address, phone number or token in full."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from apikit.logs import JsonFormatter, MaskingFilter, _mask_patterns, mask, mask_fields, request_id_var


@pytest.mark.parametrize(
    ("text", "leaked", "kept"),
    [
        ("sent to ada.lovelace@example.com", "ada.lovelace@", "a***@example.com"),
        ("sms to +447451277972 ok", "+447451277972", "***72"),
        ("sms to 07451277972 ok", "07451277972", "***72"),
        ("Authorization: Bearer s3cr3t-t0ken", "s3cr3t-t0ken", "Authorization: ***"),
        ("retrying with bearer s3cr3t-t0ken", "s3cr3t-t0ken", "bearer ***"),
        ('{"token": "abc123xyz"}', "abc123xyz", '"token": "***'),
        ("api_token=abc123xyz&x=1", "abc123xyz", "api_token=***"),
    ],
)
def test_personal_data_and_secrets_are_masked(text, leaked, kept):
    masked = mask(text)

    assert leaked not in masked
    assert kept in masked


@pytest.mark.parametrize(
    "text",
    ["order ord_01j9x7 placed", "2026-11-26T08:35:04Z", "took 1234.5 ms", "request 5f0c2a9e1b7d4c3a"],
)
def test_ordinary_text_is_left_alone(text):
    assert mask(text) == text


def _formatted(record: logging.LogRecord) -> dict:
    MaskingFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


def test_a_record_is_one_json_object_with_extras_and_the_request_id():
    token = request_id_var.set("req-1")
    try:
        record = logging.LogRecord("svc", logging.INFO, __file__, 1, "sent to %s", ("ada@example.com",), None)
        record.channel = "email"
        record.recipient = "ada@example.com"
        entry = _formatted(record)
    finally:
        request_id_var.reset(token)

    assert entry["msg"] == "sent to a***@example.com"
    assert entry["request_id"] == "req-1"
    assert entry["channel"] == "email"
    assert entry["recipient"] == "a***@example.com"
    assert entry["level"] == "info"
    assert entry["ts"].endswith("+00:00")


def test_tracebacks_are_masked_too():
    try:
        raise ValueError("cannot reach +447451277972")
    except ValueError:
        import sys

        record = logging.LogRecord("svc", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())

    entry = _formatted(record)

    assert "+447451277972" not in entry["exc"]
    assert "ValueError" in entry["exc"]


# Text built from the pieces the masking patterns look for, glued in any order and case.
_PIECES = st.sampled_from(
    [
        "@",
        "ada",
        ".",
        "example.com",
        "+44",
        "0",
        "7451277972",
        "12345678",
        "1234567",
        " ",
        "/",
        "=",
        ":",
        '"',
        "'",
        "{",
        "}",
        ",",
        "Bearer ",
        "TOKEN",
        "secret",
        "PassWord",
        "authorization",
        "contacts",
        "push_topic",
        "x",
        "-",
        "_",
        "\\\\",
    ]
)


@given(st.lists(_PIECES, max_size=12).map("".join) | st.text(max_size=40))
@settings(max_examples=400, deadline=None)
def test_the_quick_check_never_lets_through_what_the_patterns_would_mask(text):
    """`mask` skips the patterns for text with nothing they could match; that must change nothing."""
    assert mask(text) == _mask_patterns(text)
    assert mask(text) == _mask_patterns(text)  # again: clean text is remembered


def test_text_remembered_as_clean_is_checked_again_after_a_new_field_is_registered():
    text = "push_topic_x=news-for-ada"
    assert mask(text) == text
    mask_fields(["push_topic_x"])
    assert "news-for-ada" not in mask(text)


@pytest.mark.parametrize(
    "text", ["\u017fecret=abc123xyz", "authorization: Bearer abc123xyz", "author\u0131zation=abc123xyz"]
)
def test_letters_that_match_other_letters_regardless_of_case_are_not_skipped(text):
    assert mask(text) == _mask_patterns(text)
    assert "abc123xyz" not in mask(text)


def test_an_access_log_line_is_left_alone_and_an_address_in_its_path_is_not():
    assert mask("POST /orders 201") == "POST /orders 201"
    assert mask("GET /users/ada@example.com 404") == "GET /users/a***@example.com 404"


def test_values_orjson_cannot_write_are_still_written():
    record = logging.LogRecord("svc", logging.INFO, __file__, 1, "big", None, None)
    record.huge = 2**70
    record.at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    entry = _formatted(record)
    assert entry["huge"] == 2**70
    assert entry["at"] == "2026-01-02 03:04:05+00:00"  # as str() writes it
