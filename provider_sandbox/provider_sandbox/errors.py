"""The one error shape the sandbox answers with: `{"error": "...", "field": "..."}` (field if any)."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web


class JsonError(Exception):
    """Stop handling and answer `status` with a JSON error. Never put a token or message text in it."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = {"error": self.message} | ({"field": self.field} if self.field else {})
        return web.json_response(body, status=self.status, headers=self.headers)
