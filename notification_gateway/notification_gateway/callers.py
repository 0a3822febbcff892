"""`GET /callers/me`: what the gateway knows of the calling service, so it can check its own set-up.

A caller learns whether status callbacks are configured for it (a signing secret,
the origins callbacks may go to) and gets a sample signed with its secret: if
the caller cannot verify it, the two sides hold different secrets. The secret
itself never leaves the gateway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web
from pydantic import BaseModel, Field
from standardwebhooks.webhooks import Webhook

from apikit.keys import PRINCIPAL
from notification_gateway.keys import CALLBACK_POLICY

PROBE_ID = "msg_selfcheck"


class SignedSample(BaseModel):
    """A Standard Webhooks message signed with the caller's secret; verify it with yours."""

    id: str
    timestamp: int
    signature: str
    body: str


class CallbackSetup(BaseModel):
    signing_secret: bool = Field(description="Whether the gateway has a webhook secret for this caller.")
    allowed_origins: list[str] = Field(description="The only origins status callbacks may go to.")
    sample: SignedSample | None = Field(description="Absent without a signing secret.")


class CallerView(BaseModel):
    caller: str
    callbacks: CallbackSetup


async def show_caller(request: web.Request) -> web.Response:
    """The calling service's name and its status-callback set-up, with a signed sample to verify."""
    caller = request[PRINCIPAL].name
    policy = request.app[CALLBACK_POLICY]
    secret = policy.secrets.get(caller)
    sample = None
    if secret is not None:
        now = datetime.now(UTC)
        body = json.dumps({"type": "selfcheck", "caller": caller}, separators=(",", ":"))
        sample = SignedSample(
            id=PROBE_ID,
            timestamp=int(now.timestamp()),
            signature=Webhook(secret).sign(PROBE_ID, now, body),
            body=body,
        )
    view = CallerView(
        caller=caller,
        callbacks=CallbackSetup(
            signing_secret=secret is not None,
            allowed_origins=sorted(policy.allowed_origins),
            sample=sample,
        ),
    )
    return web.json_response(view.model_dump(mode="json"))
