"""The control API under `/_sandbox/`: read and clear the logs, set and clear faults, steer webhooks.

No auth: the sandbox is a loopback test tool. Nothing here ever returns a token.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from provider_sandbox.channels import CHANNELS, SMS, Channel, as_channel
from provider_sandbox.errors import JsonError
from provider_sandbox.faults import FaultSpecError, parse_plan
from provider_sandbox.keys import FAULTS, RECORDER, SETTINGS, WEBHOOKS
from provider_sandbox.providers import PHONE_NUMBER
from provider_sandbox.settings import MAX_RECEIPT_DELAY_MS

# Ten concatenated SMS segments: as long as an inbound text gets.
MAX_INBOUND_TEXT = 1600

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


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads((await request.read()).decode("utf-8"))
    except ValueError:
        raise JsonError(400, "the body must be a JSON object") from None


def _only_keys(document: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise JsonError(400, "the body must be a JSON object")
    for name in document:
        if name not in allowed:
            raise JsonError(400, f"{name} is not a known field (allowed: {', '.join(allowed)})", field=name)
    return document


async def set_channel_faults(request: web.Request) -> web.Response:
    """Replace one channel's fault plan; fields left out take their defaults (no fault)."""
    channel = _path_channel(request)
    document = await _json_body(request)
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


async def list_receipts(request: web.Request) -> web.Response:
    """Every receipt scheduled, in that order: the event as sent, and how its delivery is going."""
    return _listing(request.config_dict[WEBHOOKS].entries("receipt", _channel_filter(request)))


async def clear_receipts(request: web.Request) -> web.Response:
    """Forget the receipts: scheduled ones are dropped, ones being sent are stopped."""
    request.config_dict[WEBHOOKS].clear("receipt")
    return web.Response(status=204)


def _receipt_settings(request: web.Request) -> dict[str, Any]:
    settings = request.config_dict[SETTINGS]
    return {
        "delay_ms": request.config_dict[WEBHOOKS].delay_ms,
        "urls": {channel: settings.receipt_url(channel) for channel in CHANNELS},
        "inbound_urls": {SMS: settings.inbound_url_for(SMS)},
        "batch_size": settings.receipt_batch_size,
        "attempts": settings.receipt_attempts,
        "retry_base_ms": settings.receipt_retry_base_ms,
        "timeout_seconds": settings.receipt_timeout_seconds,
    }


async def show_receipt_settings(request: web.Request) -> web.Response:
    return web.json_response(_receipt_settings(request))


async def set_receipt_settings(request: web.Request) -> web.Response:
    """Change the delay of receipts scheduled from now on; the rest is fixed at start-up."""
    document = _only_keys(await _json_body(request), ("delay_ms",))
    delay = document.get("delay_ms")
    if not isinstance(delay, int) or isinstance(delay, bool) or not 0 <= delay <= MAX_RECEIPT_DELAY_MS:
        raise JsonError(
            400, f"delay_ms must be an integer from 0 to {MAX_RECEIPT_DELAY_MS}", field="delay_ms"
        )
    request.config_dict[WEBHOOKS].set_delay(delay)
    return web.json_response(_receipt_settings(request))


async def flush_receipts(request: web.Request) -> web.Response:
    """Send every scheduled receipt (and inbound message) now, whatever is left of its delay."""
    return web.json_response({"flushed": request.config_dict[WEBHOOKS].flush()})


async def list_inbound(request: web.Request) -> web.Response:
    """Every inbound message triggered, in that order, with how its delivery is going."""
    return _listing(request.config_dict[WEBHOOKS].entries("inbound", _channel_filter(request)))


async def clear_inbound(request: web.Request) -> web.Response:
    request.config_dict[WEBHOOKS].clear("inbound")
    return web.Response(status=204)


async def send_inbound(request: web.Request) -> web.Response:
    """A user's reply (say "STOP") reaching the provider: sent on to the inbound URL, signed. 202."""
    document = _only_keys(await _json_body(request), ("channel", "from", "text"))
    if document.get("channel") != SMS:
        raise JsonError(400, "channel must be sms: only SMS users can reply", field="channel")
    sender = document.get("from")
    if not isinstance(sender, str) or not PHONE_NUMBER.fullmatch(sender):
        raise JsonError(400, "from must be a phone number: + and 7-15 digits", field="from")
    text = document.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_INBOUND_TEXT:
        raise JsonError(
            400, f"text must be a non-empty string of at most {MAX_INBOUND_TEXT} characters", field="text"
        )
    webhook = request.config_dict[WEBHOOKS].inbound(SMS, sender, text)
    if webhook is None:
        raise JsonError(409, "inbound messages are off: set SANDBOX_INBOUND_URL")
    return web.json_response(webhook.to_json(), status=202)


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
    web.get("/_sandbox/receipts", list_receipts),
    web.delete("/_sandbox/receipts", clear_receipts),
    web.get("/_sandbox/receipts/settings", show_receipt_settings),
    web.put("/_sandbox/receipts/settings", set_receipt_settings),
    web.post("/_sandbox/receipts/flush", flush_receipts),
    web.get("/_sandbox/inbound", list_inbound),
    web.post("/_sandbox/inbound", send_inbound),
    web.delete("/_sandbox/inbound", clear_inbound),
    web.get("/healthz", healthz),
]
