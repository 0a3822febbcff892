"""Rendering console pages: what every page knows, and small filters for times, people and statuses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from orders_service.console.keys import CSRF_TOKEN, STAFF

BADGE_TONES = {
    "delivered": "good",
    "completed": "good",
    "sent": "good",
    "failed": "bad",
    "undelivered": "bad",
    "bounced": "bad",
    "suppressed": "bad",
    "refused": "bad",
    "cancelled": "muted",
    "pending": "wait",
    "queued": "wait",
    "sending": "wait",
    "placed": "info",
    "shipped": "info",
    "sample_received": "info",
    "permanent": "bad",
    "retryable": "wait",
}


def when(moment: datetime | str | None) -> str:
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def who(actor: str | None) -> str:
    """`staff:ada@example.com` reads as the e-mail; `token:admin-1` as an API client."""
    if not actor:
        return "unknown"
    kind, _, name = actor.partition(":")
    return name if kind == "staff" else f"API client {name}"


def label(value: object) -> str:
    return str(value).replace("_", " ").replace("-", " ")


def tone(value: object) -> str:
    return BADGE_TONES.get(str(value), "info")


def channel(name: object) -> str:
    """A channel's name as the console writes it: SMS in capitals, the others as they are."""
    return "SMS" if name == "sms" else str(name)


FILTERS = {"when": when, "who": who, "label": label, "tone": tone, "channel": channel}


def render(
    template: str, request: web.Request, context: dict[str, Any], *, status: int = 200
) -> web.Response:
    """A page, with what every page needs: who is signed in, the form token, where we are."""
    static = request.app.router["static"]
    common = {
        "staff": request.get(STAFF),
        "csrf_token": request.get(CSRF_TOKEN),
        "path": request.path,
        "static": lambda name: str(static.url_for(filename=name)),
    }
    return aiohttp_jinja2.render_template(template, request, common | context, status=status)
