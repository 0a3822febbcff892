"""The provider endpoints: the same paths, auth and answers as the real e-mail, SMS and push APIs.

Every request first meets the channel's faults (see `faults`), then the
provider's own checks. Each one lands in the request log with its outcome;
only accepted ones land in the message log, and get a delivery receipt later
(see `webhooks`) under the id their answer carried.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import string
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.header import decode_header, make_header
from typing import Any

from aiohttp import web

from provider_sandbox.channels import EMAIL, PUSH, SMS, Channel
from provider_sandbox.errors import JsonError
from provider_sandbox.faults import ResetFault, StatusFault
from provider_sandbox.keys import FAULTS, OUTCOME, RECORDER, SETTINGS, WEBHOOKS

EMAIL_PATH = "/dev/home-test/email-delivery-service"
SMS_PATH = "/dev/home-test/sms-delivery-service"
PUSH_PATH = "/push/{topic}"

_EMAIL_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+")
PHONE_NUMBER = re.compile(r"\+?[0-9]{7,15}")
_TOPIC = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NTFY_ID_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Accepted:
    """A message the provider took: what to record, and the provider's answer."""

    id: str
    recipient: str
    message: str
    answer: dict[str, Any]
    title: str | None = None


Accept = Callable[[web.Request], Awaitable[Accepted]]


def provider_endpoint(channel: Channel, accept: Accept) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Wrap a channel's `accept` with faults, bearer auth, both logs and the receipt."""

    async def endpoint(request: web.Request) -> web.Response:
        app = request.config_dict
        recorder = app[RECORDER]
        arrival = recorder.arrival()
        action = app[FAULTS].take(channel)  # before any await: queue entries go in arrival order
        if action.delay_ms:
            await asyncio.sleep(action.delay_ms / 1000)

        if isinstance(action.fault, ResetFault):
            recorder.add_request(arrival, channel=channel, outcome="fault", status=None)
            request[OUTCOME] = "reset"
            return _drop_connection(request)
        if isinstance(action.fault, StatusFault):
            recorder.add_request(arrival, channel=channel, outcome="fault", status=action.fault.status)
            request[OUTCOME] = "fault"
            return _fault_response(action.fault)

        try:
            _authorize(request, app[SETTINGS].token_for(channel))
            accepted = await accept(request)
        except JsonError as rejection:
            recorder.add_request(arrival, channel=channel, outcome="rejected", status=rejection.status)
            request[OUTCOME] = "rejected"
            return rejection.response()
        except ConnectionResetError:  # the client gave up (say, during injected latency)
            recorder.add_request(arrival, channel=channel, outcome="abandoned", status=None)
            request[OUTCOME] = "abandoned"
            return web.Response(status=204)  # never sent: the connection is gone
        recorder.add_message(
            arrival,
            id=accepted.id,
            channel=channel,
            recipient=accepted.recipient,
            message=accepted.message,
            title=accepted.title,
        )
        recorder.add_request(arrival, channel=channel, outcome="accepted", status=200)
        app[WEBHOOKS].receipt(channel, accepted.id, accepted.recipient)  # scheduled, never awaited
        request[OUTCOME] = "accepted"
        return web.json_response(accepted.answer)

    endpoint.__name__ = f"{channel}_provider"
    return endpoint


def _drop_connection(request: web.Request) -> web.Response:
    """Close the socket with no HTTP answer; the response returned is never sent."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=204)


def _fault_response(fault: StatusFault) -> web.Response:
    body, content_type = fault.content()
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    return web.Response(status=fault.status, text=body, content_type=content_type, headers=headers)


def _authorize(request: web.Request, expected: str | None) -> None:
    """Constant-time bearer check; None means this channel needs no token."""
    if expected is None:
        return
    challenge = {"WWW-Authenticate": 'Bearer realm="provider-sandbox"'}
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise JsonError(401, "send Authorization: Bearer <token>", headers=challenge)
    # Equal-length digests: the comparison's time says nothing about the token's length or content.
    presented_digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogateescape")).digest()
    if not hmac.compare_digest(presented_digest, hashlib.sha256(expected.encode()).digest()):
        raise JsonError(401, "the bearer token is not valid", headers=challenge)


async def _body(request: web.Request) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise JsonError(413, f"the body is larger than {request.client_max_size} bytes") from None


async def _json_object(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise JsonError(415, "send the body as Content-Type: application/json")
    raw = await _body(request)
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError:
        raise JsonError(400, "the body is not valid UTF-8 JSON") from None
    if not isinstance(document, dict):
        raise JsonError(400, "the body must be a JSON object")
    return document


def _text_field(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise JsonError(400, f"{name} must be a non-empty string", field=name)
    return value


def _json_delivery(pattern: re.Pattern[str], looks_like: str) -> Accept:
    """The e-mail and SMS providers' API: a JSON body with `recipient` and `message`."""

    async def accept(request: web.Request) -> Accepted:
        document = await _json_object(request)
        recipient = _text_field(document, "recipient")
        message = _text_field(document, "message")
        if not pattern.fullmatch(recipient):
            raise JsonError(400, f"recipient must be {looks_like}", field="recipient")
        message_id = str(uuid.uuid4())
        return Accepted(message_id, recipient, message, {"id": message_id, "status": "sent"})

    return accept


async def _publish(request: web.Request) -> Accepted:
    """ntfy's publish API: the raw body is the message, the `Title` (or `X-Title`) header its title."""
    topic = request.match_info["topic"]
    if not _TOPIC.fullmatch(topic):
        raise JsonError(400, "the topic must be 1 to 64 letters, digits, '_' or '-'", field="topic")
    try:
        message = (await _body(request)).decode("utf-8")
    except UnicodeDecodeError:
        raise JsonError(400, "the message (the body) must be UTF-8 text", field="message") from None
    if not message.strip():
        raise JsonError(400, "the message (the body) must not be empty", field="message")
    title = _decoded(request.headers.get("Title") or request.headers.get("X-Title") or "").strip() or None
    if title is not None and not _is_utf8(title):
        raise JsonError(400, "the Title header must be UTF-8 text", field="title")
    message_id = "".join(secrets.choice(_NTFY_ID_ALPHABET) for _ in range(12))
    answer: dict[str, Any] = {
        "id": message_id,
        "time": int(time.time()),
        "event": "message",
        "topic": topic,
        "message": message,
    }
    if title is not None:
        answer["title"] = title
    return Accepted(message_id, topic, message, answer, title)


def _decoded(header: str) -> str:
    """The header as ntfy reads it: RFC 2047 encoded-words (`=?UTF-8?B?...?=`) decoded."""
    if "=?" not in header:
        return header
    try:
        return str(make_header(decode_header(header)))
    except (ValueError, LookupError, UnicodeDecodeError):
        raise JsonError(400, "the Title header is not valid RFC 2047 text", field="title") from None


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


ROUTES = [
    web.post(EMAIL_PATH, provider_endpoint(EMAIL, _json_delivery(_EMAIL_ADDRESS, "an e-mail address"))),
    web.post(
        SMS_PATH, provider_endpoint(SMS, _json_delivery(PHONE_NUMBER, "a phone number: + and 7-15 digits"))
    ),
    web.post(PUSH_PATH, provider_endpoint(PUSH, _publish)),
]
