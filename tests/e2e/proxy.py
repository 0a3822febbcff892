"""A small reverse proxy that can fail on demand: a load balancer in front of a sick gateway."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from tests.processes import free_port

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class FaultyProxy:
    """Forwards everything to `upstream`, or answers `failing_status` while that is set."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.failing_status: int | None = None
        self.failed = 0
        self.forwarded = 0
        self.port = free_port()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.failing_status is not None:
            self.failed += 1
            return web.json_response({"title": "proxy fault"}, status=self.failing_status)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=await request.read()
        ) as upstream:
            body = await upstream.read()
            self.forwarded += 1
            kept = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=upstream.status, body=body, headers=kept)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()
