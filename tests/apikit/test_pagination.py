"""Cursors: what we issue decodes back; anything else is refused cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apikit.pagination import decode_cursor, encode_cursor

IDS = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200)


@given(IDS)
def test_an_issued_cursor_decodes_to_its_key(after):
    cursor = encode_cursor(after)

    assert decode_cursor(cursor) == after
    assert "=" not in cursor


@given(st.text(max_size=300))
def test_any_other_text_is_a_value_error_or_a_printable_key(cursor):
    try:
        after = decode_cursor(cursor)
    except ValueError:
        return
    assert after.isprintable()
    assert after.isascii()


@pytest.mark.parametrize("cursor", ["", "e30", "bnVsbA", "eyJhZnRlciI6ICJcdTAwMDAifQ"])
def test_known_bad_cursors_are_refused(cursor):
    with pytest.raises(ValueError, match="not a cursor"):
        decode_cursor(cursor)
