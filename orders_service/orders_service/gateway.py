"""The orders service's one client of the notification gateway: where it is, the caller token, the
timeout on every call, and what a refused token means.

Callers keep their own policy: the channel directory caches, the link reports readiness, the relay
retries, the console shows an unreachable gateway as a fact. They all ask through `GatewayClient`,
so the URL, the bearer header, the request id and the timeout are written here once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from multidict import CIMultiDictProxy

from apikit.errors import DomainError
from apikit.logs import request_id_var
from apikit.request_ids import REQUEST_ID_HEADER

TOKEN_STATUSES = frozenset({401, 403})


def token_refused(status: int) -> str:
    """The one wording used everywhere (problems, the outbox row, logs) for a refused token."""
    return f"the gateway refused this service's token ({status})"


class GatewayTokenRefused(DomainError):
    """The gateway answers 401/403 to this service's token: a configuration error, not an outage."""

    status: int = 401

    @classmethod
    def answered(cls, status: int) -> GatewayTokenRefused:
        """The error for the gateway's answer `status` (401 or 403), naming the setting to fix."""
        error = cls(
            f"{token_refused(status)}; ORDERS_GATEWAY_TOKEN must be a caller token the gateway accepts."
        )
        error.status = status
        return error


class GatewayUnavailable(Exception):
    """The gateway did not answer, or answered with a server error. The message says which."""


class GatewayUnreachable(GatewayUnavailable):
    """No answer at all (connection refused or reset, timeout); `cause` names the error."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = type(cause).__name__
        super().__init__(f"the gateway cannot be reached ({self.cause})")


@dataclass(frozen=True)
class GatewayAnswer:
    """The gateway's answer, read in full; the body is parsed only when a caller asks for it."""

    status: int
    headers: CIMultiDictProxy[str]
    content: bytes

    def json(self) -> Any:
        """The body as JSON (None when empty); a body that is not JSON raises `ValueError`."""
        return json.loads(self.content) if self.content.strip() else None

    def retry_after(self) -> float | None:
        """`Retry-After` in seconds, when the gateway gave it as a number."""
        value = self.headers.get("Retry-After", "")
        return float(value) if value.isdigit() else None


class GatewayClient:
    """The gateway's HTTP API as this service calls it; one per application (`keys.GATEWAY`)."""

    def __init__(
        self, session: aiohttp.ClientSession, *, gateway_url: str, token: str, timeout_seconds: float
    ) -> None:
        self.session = session
        self.base_url = gateway_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> GatewayAnswer:
        """One call (with `body` as JSON, if given) with this service's token and the current request
        id (`headers` add to or override them). Raises `GatewayUnreachable` when no answer comes
        within the timeout."""
        sent = {"Authorization": f"Bearer {self._token}"}
        if request_id := request_id_var.get():
            sent[REQUEST_ID_HEADER] = request_id
        sent.update(headers or {})
        try:
            async with self.session.request(
                method, f"{self.base_url}{path}", json=body, headers=sent, timeout=self._timeout
            ) as response:
                return GatewayAnswer(response.status, response.headers, await response.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayUnreachable(exc) from None

    async def _answer(self, method: str, path: str) -> tuple[int, Any]:
        """Status and JSON body; a server error or an unreadable body is `GatewayUnavailable`."""
        answer = await self.request(method, path)
        if answer.status >= 500:
            raise GatewayUnavailable(f"the gateway answered {answer.status}")
        try:
            return answer.status, answer.json()
        except ValueError as exc:
            raise GatewayUnreachable(exc) from None

    async def notification(self, notification_id: str) -> dict[str, Any] | None:
        """The gateway's view of the notification with its attempts; None if it does not know it."""
        status, body = await self._answer("GET", f"/notifications/{notification_id}")
        if status == 404:
            return None
        if status != 200:
            raise GatewayUnavailable(f"the gateway answered {status}")
        return body

    async def suppressions(self, channel: str, address: str) -> list[dict[str, Any]]:
        """The suppression in force for `address` on `channel` (`bounced`, `undelivered`, `opted_out`),
        as a list of none or one. The address travels in the query, as the gateway's API takes it."""
        query = urlencode({"channel": channel, "address": address})
        status, body = await self._answer("GET", f"/suppressions?{query}")
        if status in TOKEN_STATUSES:
            raise GatewayUnavailable(token_refused(status))
        if status == 404:
            return []  # the gateway no longer has this channel: nothing is suppressed on it
        if status != 200:
            raise GatewayUnavailable(f"the gateway answered {status}")
        return body["data"]

    async def cancel(self, notification_id: str) -> bool:
        """True if the gateway cancelled it (or had already); False if sending had started or it is final."""
        status, _ = await self._answer("POST", f"/notifications/{notification_id}/cancel")
        if status == 200:
            return True
        if status in (404, 409):
            return False
        raise GatewayUnavailable(f"the gateway answered {status}")
