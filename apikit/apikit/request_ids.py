"""`X-Request-ID`: accepted from the caller when well-formed, made otherwise, always returned."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from apikit.keys import REQUEST_ID
from apikit.logs import request_id_var

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_of(request: web.Request) -> str:
    return request.get(REQUEST_ID) or new_request_id()


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    """Outermost middleware: every response, even a 500, carries the id."""
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = offered if _ACCEPTABLE.match(offered) else new_request_id()
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        request_id_var.reset(token)
    response.headers[REQUEST_ID_HEADER] = request_id
    return response
