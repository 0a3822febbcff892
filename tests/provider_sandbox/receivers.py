"""A real local HTTP server standing in for whoever receives the sandbox's webhooks (the gateway, later).

It records every request exactly as it arrived (path, headers, raw body) and
answers from a script: a list of statuses used up one per request (`HANG`
never answers), then 204. Tests wait on what arrives, never on the clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

HANG = 0  # a scripted "status" that never answers
WAIT_SECONDS = 30.0  # a bound against hanging, not a benchmark


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return json.loads(self.body)


class Receiver:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[int] = []
        self._arrivals: asyncio.Queue[Received] = asyncio.Queue()
        self._never = asyncio.Event()  # set only by release()
        self.base_url = ""

    async def handle(self, request: web.Request) -> web.Response:
        arrived = Received(request.path, dict(request.headers), await request.read())
        self.received.append(arrived)
        self._arrivals.put_nowait(arrived)
        status = self.script.pop(0) if self.script else 204
        if status == HANG:
            await self._never.wait()
        return web.Response(status=status)

    async def next(self) -> Received:
        """The next request to arrive (in arrival order), waiting for it if need be."""
        try:
            return await asyncio.wait_for(self._arrivals.get(), WAIT_SECONDS)
        except TimeoutError:
            pytest.fail("no webhook arrived at the receiver")

    def release(self) -> None:
        """Let every hung request finish."""
        self._never.set()


def verify(secret: str, received: Received) -> bool:
    """The README's recipe, written out independently of the sandbox's own code."""
    timestamp = received.headers["X-Sandbox-Timestamp"]
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256)
    expected = "sha256=" + mac.hexdigest()
    return hmac.compare_digest(expected, received.headers["X-Sandbox-Signature"])


async def wait_until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll `check` until it holds; fail saying `what` did not happen. A bound, not a benchmark."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
