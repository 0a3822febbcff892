"""`redact`: every value gone, in any case, also a value a length limit cut short at the end."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from apikit.logs import _MIN_CUT_PREFIX, HIDDEN, redact

ASCII = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)


def _plainly(text: str, values: list[str]) -> str:
    """The definition, one step at a time: replace each value, then its longest cut-short prefix."""
    for value in sorted({value for value in values if value}, key=len, reverse=True):
        text = re.sub(re.escape(value), HIDDEN, text, flags=re.IGNORECASE)
        for size in range(len(value) - 1, _MIN_CUT_PREFIX - 1, -1):
            if text.lower().endswith(value[:size].lower()):
                text = text[:-size] + HIDDEN
                break
    return text


@given(text=ASCII, values=st.lists(st.text(alphabet="abcAB@.1", min_size=1, max_size=12), max_size=4))
def test_redact_does_what_its_definition_says(text, values):
    # Texts built from the values' own letters, so that values and cut-short values do occur.
    assert redact(text, values) == _plainly(text, values)


@given(
    head=st.text(alphabet="abcAB@.1 ", max_size=30),
    value=st.text(alphabet="abcAB@.1", min_size=2, max_size=12),
    cut=st.integers(min_value=0, max_value=12),
)
def test_a_value_whole_or_cut_short_at_the_end_is_redacted_like_its_definition(head, value, cut):
    text = head + value[: max(1, len(value) - cut)]

    assert redact(text, [value]) == _plainly(text, [value])


def test_examples():
    assert redact("sent to Ada@Example.com ok", ["ada@example.com"]) == f"sent to {HIDDEN} ok"
    assert redact("echo: ada@exam", ["ada@example.com"]) == f"echo: {HIDDEN}"
    assert redact("echo: ada", ["ada@example.com"]) == "echo: ada"  # 3 characters: too short to hide
    assert redact("nothing here", ["ada@example.com", "token-123"]) == "nothing here"
