"""RFC 9457 problem details: the one shape every error response takes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from aiohttp import web

PROBLEM_CONTENT_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """A documented kind of problem; its `type` URI resolves to this description."""

    slug: str
    title: str
    status: int
    description: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


@dataclass(frozen=True)
class FieldError:
    """One invalid part of the request: a body member (JSON pointer), a query parameter or a header."""

    detail: str
    pointer: str | None = None
    parameter: str | None = None
    header: str | None = None

    def to_dict(self) -> dict[str, str]:
        where = {"pointer": self.pointer, "parameter": self.parameter, "header": self.header}
        return {"detail": self.detail} | {k: v for k, v in where.items() if v is not None}


@dataclass
class Problem(Exception):
    """Raised anywhere in the HTTP layer; the error middleware renders it."""

    status: int
    title: str | None = None
    detail: str | None = None
    type: ProblemType | None = None
    errors: Sequence[FieldError] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        problem_type: ProblemType,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> Problem:
        return cls(
            status=problem_type.status,
            title=problem_type.title,
            detail=detail,
            type=problem_type,
            errors=errors,
            headers=headers or {},
            extra=extra,
        )

    def __str__(self) -> str:
        return f"{self.status} {self.title or ''}: {self.detail or ''}"

    def body(self, instance: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type.uri if self.type else "about:blank",
            "title": self.title or HTTPStatus(self.status).phrase,
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        body["instance"] = instance
        if self.errors:
            body["errors"] = [error.to_dict() for error in self.errors]
        body.update(self.extra)
        return body


def problem_response(problem: Problem, *, instance: str) -> web.Response:
    response = web.json_response(
        problem.body(instance), status=problem.status, content_type=PROBLEM_CONTENT_TYPE
    )
    response.headers.update(problem.headers)
    return response


# Problem types both services raise. Each service adds its own domain ones.
VALIDATION_FAILED = ProblemType(
    "validation-failed",
    "Your request is not valid",
    422,
    "The body parsed as JSON but broke the schema; `errors` lists each field.",
)
MALFORMED_REQUEST = ProblemType(
    "malformed-request",
    "Your request could not be read",
    400,
    "The body is not JSON, or a query parameter or header is malformed.",
)
IDEMPOTENCY_KEY_REUSED = ProblemType(
    "idempotency-key-reused",
    "This Idempotency-Key was used for another request",
    422,
    "The same key was sent before with a different body; use a fresh key.",
)
IDEMPOTENCY_IN_FLIGHT = ProblemType(
    "idempotency-request-in-flight",
    "A request with this Idempotency-Key is still being processed",
    409,
    "Wait for the first request to finish, then retry to get its answer.",
)
SERVICE_UNAVAILABLE = ProblemType(
    "service-unavailable",
    "The service cannot reach its database",
    503,
    "The database could not be reached; the request was not completed, and nothing was half-written. "
    "Retry after the indicated delay, with the same Idempotency-Key if you sent one.",
)

RATE_LIMITED = ProblemType(
    "rate-limited",
    "Too many requests from this caller",
    429,
    "Each caller has a request budget per time window; wait for `Retry-After` seconds.",
)

COMMON_PROBLEM_TYPES = (
    RATE_LIMITED,
    VALIDATION_FAILED,
    MALFORMED_REQUEST,
    IDEMPOTENCY_KEY_REUSED,
    IDEMPOTENCY_IN_FLIGHT,
    SERVICE_UNAVAILABLE,
)
