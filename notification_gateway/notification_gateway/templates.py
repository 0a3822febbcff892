"""Filling a message's placeholders (`{user_name}`) from the recipient and attributes.

Only bare names are allowed: no attribute access, indexing, conversions or
format specs, so a template can neither crash the gateway nor reach into its
objects. `{{` and `}}` stand for literal braces.
"""

from __future__ import annotations

from collections.abc import Mapping
from string import Formatter

from apikit.errors import DomainError


class TemplateError(DomainError):
    """The message names a placeholder that cannot be filled, or is malformed."""


def placeholders_for(recipient_id: str, recipient_name: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """What a template may name: the recipient's name and id, and every routing attribute."""
    return {**attributes, "user_name": recipient_name, "user_id": recipient_id}


def render(template: str, values: Mapping[str, str]) -> str:
    parts: list[str] = []
    try:
        parsed = list(Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"The message template is malformed: {exc}.", pointer="#/message") from None
    for literal, name, format_spec, conversion in parsed:
        parts.append(literal)
        if name is None:
            continue
        if format_spec or conversion or not name.isidentifier():
            raise TemplateError(
                f"Placeholders are plain names such as {{user_name}}; {{{name}}} is not.", pointer="#/message"
            )
        if name not in values:
            available = ", ".join(f"{{{key}}}" for key in sorted(values))
            raise TemplateError(
                f"The message names {{{name}}}, which is not known. Available: {available}.",
                pointer="#/message",
            )
        parts.append(values[name])
    return "".join(parts)
