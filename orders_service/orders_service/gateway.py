"""Reading and cancelling notifications at the gateway, with this service's caller token.

Every call has a timeout. The console and the API treat an unreachable gateway
as a fact to show, never as a reason to fail what the orders service can do alone.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from apikit.logs import request_id_var
from apikit.request_ids import REQUEST_ID_HEADER


class GatewayUnavailable(Exception):
    """The gateway did not answer, or answered with a server error. The message says which."""


class GatewayClient:
    def __init__(
        self, session: aiohttp.ClientSession, *, gateway_url: str, token: str, timeout: float
    ) -> None:
        self._session = session
        self._url = gateway_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def _headers(self) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self._token}"}
        if request_id := request_id_var.get():
            headers[REQUEST_ID_HEADER] = request_id
        return headers

    async def _call(self, method: str, path: str) -> tuple[int, Any]:
        try:
            async with self._session.request(
                method, f"{self._url}{path}", headers=self._headers(), timeout=self._timeout
            ) as response:
                if response.status >= 500:
                    raise GatewayUnavailable(f"the gateway answered {response.status}")
                return response.status, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise GatewayUnavailable(f"the gateway cannot be reached ({type(exc).__name__})") from None

    async def notification(self, notification_id: str) -> dict[str, Any] | None:
        """The gateway's view of the notification with its attempts; None if it does not know it."""
        status, body = await self._call("GET", f"/notifications/{notification_id}")
        if status == 404:
            return None
        if status != 200:
            raise GatewayUnavailable(f"the gateway answered {status}")
        return body

    async def cancel(self, notification_id: str) -> bool:
        """True if the gateway cancelled it (or had already); False if sending had started or it is final."""
        status, _ = await self._call("POST", f"/notifications/{notification_id}/cancel")
        if status == 200:
            return True
        if status in (404, 409):
            return False
        raise GatewayUnavailable(f"the gateway answered {status}")
