"""Readiness: each dependency checked on its own, reported with a reason.

`GET /readyz` runs every check of the application (the database always, plus
what the service adds, such as its link to another service) and answers 200
while every *required* check passes, else 503. A check that fails but is not
required (a peer that is merely down while work waits in an outbox) is
reported without making the process unready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from apikit.database import ping

CHECK_TIMEOUT_SECONDS = 3.0

State = Literal["ok", "failing", "unknown"]


@dataclass(frozen=True)
class CheckResult:
    state: State
    reason: str


@dataclass(frozen=True)
class ReadinessCheck:
    """`probe` returns the result; an exception or a timeout counts as failing, with its type as reason."""

    name: str
    probe: Callable[[], Awaitable[CheckResult]]
    required: bool = True


class CheckReport(BaseModel):
    status: State
    required: bool = Field(description="A failing required check makes the service unready (503).")
    reason: str


class ReadinessReport(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, CheckReport]


async def database_probe() -> CheckResult:
    try:
        await ping()
    except Exception as exc:
        return CheckResult("failing", f"the database does not answer ({type(exc).__name__})")
    return CheckResult("ok", "the database answers")


DATABASE_CHECK = ReadinessCheck("database", database_probe)


async def _run(check: ReadinessCheck) -> CheckReport:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            result = await check.probe()
    except TimeoutError:
        result = CheckResult("failing", f"no answer within {CHECK_TIMEOUT_SECONDS:g} s")
    except Exception as exc:
        result = CheckResult("failing", f"the check failed ({type(exc).__name__})")
    return CheckReport(status=result.state, required=check.required, reason=result.reason)


async def assess(checks: list[ReadinessCheck]) -> ReadinessReport:
    """Run every check at once."""
    reports = await asyncio.gather(*(_run(check) for check in checks))
    ready = all(r.status != "failing" for r in reports if r.required)
    return ReadinessReport(
        status="ready" if ready else "not ready",
        checks={check.name: report for check, report in zip(checks, reports, strict=True)},
    )
