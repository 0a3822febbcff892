"""Free text as both services accept it: trimmed, bounded, and free of control characters.

Control characters have no business in a name or a message, and some (NUL)
are refused by PostgreSQL outright; refusing them at the edge gives a clear 422
instead of a database error.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints

_ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
_MULTI_LINE = r"^[^\x00-\x08\x0b-\x1f\x7f]*$"  # tab and newline allowed


def _refuse_control_characters(allowed: str):
    """Checked before trimming, as the published pattern is: a trailing form feed is refused, not trimmed."""

    def check(text: Any) -> Any:
        if isinstance(text, str) and any(
            (ord(char) < 0x20 and char not in allowed) or ord(char) == 0x7F for char in text
        ):
            raise ValueError("must not contain control characters")
        return text

    return check


def plain_text(max_length: int, *, multiline: bool = False, trimmed: bool = True) -> Any:
    """An annotated `str` type: 1 to `max_length` characters (after trimming, unless `trimmed` is
    False: a search box takes what was typed), no control characters."""
    return Annotated[
        str,
        StringConstraints(strip_whitespace=trimmed, min_length=1, max_length=max_length),
        BeforeValidator(_refuse_control_characters("\t\n" if multiline else "")),
        Field(json_schema_extra={"pattern": _MULTI_LINE if multiline else _ONE_LINE}),
    ]
