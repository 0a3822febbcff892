"""The control API under `/_sandbox/`: read and clear the logs, set and clear faults.

No auth: the sandbox is a loopback test tool. Nothing here ever returns a token.
"""

from __future__ import annotations

import json

from aiohttp import web

from provider_sandbox.channels import CHANNELS, Channel, as_channel
from provider_sandbox.errors import JsonError
from provider_sandbox.faults import FaultSpecError, parse_plan
from provider_sandbox.keys import FAULTS, RECORDER

_CHANNEL_LIST = ", ".join(CHANNELS)


def _channel_filter(request: web.Request) -> Channel | None:
    if "channel" not in request.query:
        return None
    channel = as_channel(request.query["channel"])
    if channel is None:
        raise JsonError(400, f"channel must be one of {_CHANNEL_LIST}", field="channel")
    return channel


def _path_channel(request: web.Request) -> Channel:
    channel = as_channel(request.match_info["channel"])
    if channel is None:
        raise JsonError(404, f"no such channel; the channels are {_CHANNEL_LIST}")
    return channel


def _listing(entries: list[dict]) -> web.Response:
    return web.json_response({"data": entries, "count": len(entries)})


async def list_messages(request: web.Request) -> web.Response:
    """Accepted messages in arrival order, optionally of one channel (`?channel=sms`)."""
    return _listing(request.config_dict[RECORDER].messages(_channel_filter(request)))


async def list_requests(request: web.Request) -> web.Response:
    """Every request that reached a provider endpoint, with its outcome, in arrival order."""
    return _listing(request.config_dict[RECORDER].requests(_channel_filter(request)))


async def clear_messages(request: web.Request) -> web.Response:
    """Forget the messages and the request log (faults are left as they are)."""
    request.config_dict[RECORDER].clear()
    return web.Response(status=204)


async def show_faults(request: web.Request) -> web.Response:
    faults = request.config_dict[FAULTS]
    return web.json_response({channel: faults.plan(channel).to_json() for channel in CHANNELS})


async def show_channel_faults(request: web.Request) -> web.Response:
    return web.json_response(request.config_dict[FAULTS].plan(_path_channel(request)).to_json())


async def set_channel_faults(request: web.Request) -> web.Response:
    """Replace one channel's fault plan; fields left out take their defaults (no fault)."""
    channel = _path_channel(request)
    try:
        document = json.loads((await request.read()).decode("utf-8"))
    except ValueError:
        raise JsonError(400, "the body must be a JSON object") from None
    try:
        plan = parse_plan(document)
    except FaultSpecError as error:
        raise JsonError(400, error.message, field=error.field) from None
    faults = request.config_dict[FAULTS]
    faults.set(channel, plan)
    return web.json_response(faults.plan(channel).to_json())


async def clear_faults(request: web.Request) -> web.Response:
    request.config_dict[FAULTS].clear()
    return web.Response(status=204)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


ROUTES = [
    web.get("/_sandbox/messages", list_messages),
    web.delete("/_sandbox/messages", clear_messages),
    web.get("/_sandbox/requests", list_requests),
    web.get("/_sandbox/faults", show_faults),
    web.delete("/_sandbox/faults", clear_faults),
    web.get("/_sandbox/faults/{channel}", show_channel_faults),
    web.put("/_sandbox/faults/{channel}", set_channel_faults),
    web.get("/healthz", healthz),
]
