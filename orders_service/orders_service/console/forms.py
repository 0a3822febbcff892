"""HTML forms to and from the API's models, and problems to per-field messages.

A form field is named after the JSON pointer of the member it fills
(`shipping_info.city` fills `#/shipping_info/city`), so the same problem the API
would answer puts each message next to its field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from apikit.errors import DomainError
from apikit.idempotency import KEY_PATTERN
from apikit.middlewares import problem_type_of
from apikit.problems import Problem


def field_of(pointer: str | None) -> str:
    return (pointer or "").removeprefix("#/").replace("/", ".") or "form"


def errors_of(error: Problem | DomainError) -> dict[str, str]:
    """Field name (or "form") -> message, from a problem's `errors` or a domain error's pointer."""
    if isinstance(error, DomainError):
        return {field_of(error.pointer): error.detail}
    found: dict[str, str] = {}
    for item in error.errors:
        if item.pointer is not None:
            found.setdefault(field_of(item.pointer), item.detail)
        else:
            found.setdefault("form", item.detail)
    return found or {"form": error.detail or "The request was refused."}


def status_of(error: Problem | DomainError, request: web.Request) -> int:
    """The status the API answers for the same refusal, so a page and the API agree."""
    if isinstance(error, Problem):
        return error.status
    kind = problem_type_of(error, request)
    return kind.status if kind else 422


def _text(form: Mapping[str, Any], name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    return value.strip() or None


def address_from(form: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    lines = [line for n in range(4) if (line := _text(form, f"{prefix}.address_lines.{n}"))]
    address = {
        "address_lines": lines,
        "city": _text(form, f"{prefix}.city"),
        "region": _text(form, f"{prefix}.region"),
        "postcode": _text(form, f"{prefix}.postcode"),
        "country": _text(form, f"{prefix}.country"),
    }
    return {name: value for name, value in address.items() if value not in (None, [])}


def form_key(form: Mapping[str, Any]) -> str | None:
    """The key the page gave this copy of a form (`form_key`): submitted twice, it is one order.
    A copy without one (or with one no page makes) is simply not deduplicated."""
    key = _text(form, "form_key")
    return key if key is not None and re.fullmatch(KEY_PATTERN, key) else None


def place_order_from(form: Mapping[str, Any], user_id: str) -> dict[str, Any]:
    shipping = address_from(form, "shipping_info")
    if recipient := _text(form, "shipping_info.recipient_name"):
        shipping["recipient_name"] = recipient
    return {
        "user_id": user_id,
        "sequencing_type": _text(form, "sequencing_type"),
        "notification_channel": _text(form, "notification_channel"),
        "shipping_info": shipping,
    }


def change_user_from(form: Mapping[str, Any]) -> dict[str, Any]:
    """Every field of the contact form: an empty phone number or address removes it."""
    address = address_from(form, "address")
    return {
        "name": _text(form, "name") or "",
        "email": _text(form, "email") or "",
        "phone_number": _text(form, "phone_number"),
        "address": address if address.keys() - {"country"} else None,
    }
