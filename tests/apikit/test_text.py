"""Free text is checked as the published pattern says: control characters are refused, even at the ends."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from apikit.text import plain_text


class Named(BaseModel):
    name: plain_text(20)


@pytest.mark.parametrize("value", ["Ada\x0c", "\x0cAda", "A\x00da", "Ada\n"])
def test_a_control_character_is_refused_even_where_trimming_would_drop_it(value):
    with pytest.raises(ValidationError, match="control characters"):
        Named(name=value)


def test_surrounding_spaces_are_trimmed():
    assert Named(name="  Ada Lovelace ").name == "Ada Lovelace"
