"""Turning request bodies, query strings and headers into typed models, or into problems.

Status codes: 415 for a body that is not JSON by its Content-Type, 413 for one
over the size limit (raised by aiohttp), 400 when the JSON does not parse or a
query parameter or header is malformed, 422 when well-formed JSON breaks the
schema. The input is never echoed back: it may hold personal data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from apikit.problems import MALFORMED_REQUEST, VALIDATION_FAILED, FieldError, Problem

ModelT = TypeVar("ModelT", bound=BaseModel)


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_json(request: web.Request) -> object:
    """The parsed JSON body; 415 if it is not declared as JSON, 400 if it does not parse."""
    if not _is_json(request.content_type):
        accepted = "application/json"
        raise Problem(
            415,
            detail=f"Send the body as {accepted}.",
            headers={f"Accept-{request.method.title()}": accepted}
            if request.method in ("POST", "PATCH")
            else {},
        )
    raw = await request.read()  # aiohttp raises 413 past client_max_size
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = {UnicodeDecodeError: "not UTF-8", RecursionError: "nested too deeply"}
        detail = f"The body is not valid JSON: {getattr(exc, 'msg', None) or reason[type(exc)]}."
        raise Problem.of(MALFORMED_REQUEST, detail) from None


async def read_body(request: web.Request, model: type[ModelT]) -> ModelT:
    """Validate the JSON body against `model`; 422 with one error per bad field."""
    return validate(model, await read_json(request))


def validate(model: type[ModelT], data: object) -> ModelT:
    """`data` as `model`, or a 422 problem with one error (and JSON pointer) per bad field.

    Shared by JSON bodies and HTML forms, so both report a bad field the same way."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Problem.of(
            VALIDATION_FAILED,
            f"{exc.error_count()} field(s) are invalid.",
            errors=[FieldError(_message(error), pointer=_pointer(error["loc"])) for error in exc.errors()],
        ) from None


def parse_query(request: web.Request, model: type[ModelT]) -> ModelT:
    """Validate query parameters against `model`; 400 naming each bad parameter."""
    params = {key: _query_value(model, key, request.query.getall(key)) for key in set(request.query)}
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise Problem.of(
            MALFORMED_REQUEST,
            "A query parameter is invalid.",
            errors=[
                FieldError(_message(error), parameter=".".join(map(str, error["loc"])) or None)
                for error in exc.errors()
            ],
        ) from None


def _pointer(loc: tuple[int | str, ...]) -> str:
    """RFC 6901 pointer, as a URI fragment, to the offending member."""
    escaped = (str(part).replace("~", "~0").replace("/", "~1") for part in loc)
    return "#/" + "/".join(escaped)


def _message(error: Mapping[str, Any]) -> str:
    return str(error["msg"]).removeprefix("Value error, ")


def _query_value(model: type[BaseModel], key: str, values: list[str]) -> str | list[str]:
    """A list for list-typed parameters (`?status=a&status=b`), else the single value."""
    field = model.model_fields.get(key)
    if field is not None and get_origin(field.annotation) is list:
        return values
    return values[0] if len(values) == 1 else values
