"""The floor for `POST /orders`: aiohttp parsing the same JSON and answering 201, nothing else.

No auth, validation, database or middleware, so ours / this is what everything
our endpoint does costs on top of the web framework and the event loop they share.

Run: `python -m benchmarks.baselines.bare_aiohttp serve` (port from BARE_AIOHTTP_PORT).
"""

from __future__ import annotations

import itertools
import os
import sys

from aiohttp import web

_numbers = itertools.count(1)


async def place_order(request: web.Request) -> web.Response:
    body = await request.json()
    order_id = f"ord_{next(_numbers)}"
    return web.json_response(
        {"id": order_id, "user_id": body["user_id"], "status": "placed"},
        status=201,
        headers={"Location": f"/orders/{order_id}"},
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main(argv: list[str]) -> None:
    if argv != ["serve"]:
        raise SystemExit("usage: python -m benchmarks.baselines.bare_aiohttp serve")
    app = web.Application()
    app.router.add_post("/orders", place_order)
    app.router.add_get("/healthz", healthz)
    port = int(os.environ.get("BARE_AIOHTTP_PORT", "8090"))
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main(sys.argv[1:])
