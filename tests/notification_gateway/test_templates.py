"""Templates: any text either renders or is refused with a TemplateError, never anything else."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from notification_gateway.templates import TemplateError, render

VALUES = {"user_name": "Ada", "user_id": "u_1", "kit_type": "wes"}


@given(st.text(max_size=80))
def test_any_template_renders_or_is_refused(template):
    try:
        outcome: str | TemplateError = render(template, VALUES)
    except TemplateError as error:
        outcome = error
    if isinstance(outcome, TemplateError):
        assert outcome.pointer == "#/message"
    else:
        assert isinstance(outcome, str)


@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=80))
def test_text_without_braces_is_unchanged(text):
    assert render(text, VALUES) == text


def test_values_are_not_interpreted_again():
    assert render("{user_name}", {"user_name": "{user_id}", "user_id": "x"}) == "{user_id}"
