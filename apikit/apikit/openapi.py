"""Builds the OpenAPI 3.1 document from the route table and pydantic models."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from apikit.endpoints import Endpoint
from apikit.idempotency import KEY_PATTERN

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)(?::[^}]*)?}")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["detail"],
                "properties": {
                    "detail": {"type": "string"},
                    "pointer": {"type": "string"},
                    "parameter": {"type": "string"},
                    "header": {"type": "string"},
                },
            },
        },
    },
}


def _models(endpoints: Iterable[Endpoint]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Request bodies in validation mode, responses in serialization mode, each once."""
    seen: dict[str, tuple[type[BaseModel], JsonSchemaMode]] = {}
    for endpoint in endpoints:
        if endpoint.body is not None:
            seen.setdefault(endpoint.body.__name__, (endpoint.body, "validation"))
        for response in endpoint.responses.values():
            if response.model is not None:
                seen.setdefault(response.model.__name__, (response.model, "serialization"))
    return list(seen.values())


def _parameters(endpoint: Endpoint) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PATH_PARAM.findall(endpoint.path)
    ]
    if endpoint.query is not None:
        schema = endpoint.query.model_json_schema(ref_template=_REF)
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": {k: v for k, v in prop.items() if k != "title"},
                    **({"description": prop["description"]} if "description" in prop else {}),
                }
            )
    if endpoint.idempotency_key:
        parameters.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes a retry safe: the same key and body replay the first answer.",
                "schema": {"type": "string", "pattern": KEY_PATTERN},
            }
        )
    return parameters


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, response in endpoint.responses.items():
        entry: dict[str, Any] = {"description": response.description}
        if response.model is not None:
            schema = {"$ref": _REF.format(model=response.model.__name__)}
            entry["content"] = {response.media_type: {"schema": schema}}
        elif response.media_type != "application/json":
            entry["content"] = {response.media_type: {"schema": {"type": "string"}}}
        if response.links:
            entry["links"] = {
                name: {"operationId": link.operation_id, "parameters": dict(link.parameters)}
                for name, link in response.links.items()
            }
        if response.headers:
            entry["headers"] = {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in response.headers.items()
            }
        responses[str(status)] = entry
    statuses = set(endpoint.problems) | {500}
    if endpoint.roles is not None:
        statuses |= {401, 403, 429}
    if endpoint.body is not None:
        statuses |= {400, 413, 415, 422}
    if endpoint.query is not None:
        statuses.add(400)
    for status in sorted(statuses):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
        }
    return responses


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "responses": _responses(endpoint),
    }
    if doc := (endpoint.handler.__doc__ or "").strip():
        operation["description"] = doc
    if endpoint.tags:
        operation["tags"] = list(endpoint.tags)
    if parameters := _parameters(endpoint):
        operation["parameters"] = parameters
    if endpoint.roles is not None:
        operation["security"] = [{"bearer": []}]
        operation["description"] = (
            operation.get("description", "") + f"\n\nRoles: {', '.join(sorted(endpoint.roles))}."
        ).strip()
    if endpoint.body is not None:
        schema = {"$ref": _REF.format(model=endpoint.body.__name__)}
        operation["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media in endpoint.body_media_types},
        }
    return operation


def openapi_document(
    *, title: str, version: str, description: str, endpoints: Sequence[Endpoint]
) -> dict[str, Any]:
    """The whole document; `paths` lists exactly the endpoints the router serves."""
    _, definitions = models_json_schema(_models(endpoints), ref_template=_REF)
    schemas = definitions.get("$defs", {}) | {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        path = _PATH_PARAM.sub(r"{\1}", endpoint.path)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
