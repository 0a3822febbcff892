"""A chat channel exactly as version 1 of the contract had plugins write it (do not modernise)."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from notification_gateway.channels import (
    Channel,
    Message,
    Receipt,
    RecipientUnreachable,
    deliver_http,
    provider_settings,
)
from notification_gateway.hookspecs import hookimpl


class OldChatChannel(Channel):
    name = "oldchat"
    recipient_field = "chat_handle"
    description = "Chat, through a version 1 plugin."

    def __init__(self, *, url: str, token: str | None, timeout_seconds: float) -> None:
        self.url = url
        self._token = token
        self.timeout_seconds = timeout_seconds

    def check_address(self, value: str) -> str:
        handle = value.strip()
        if not handle.startswith("@") or len(handle) < 2:
            raise RecipientUnreachable(f"the {self.recipient_field} is not a chat handle")
        return handle

    async def send(self, message: Message, session: aiohttp.ClientSession) -> Receipt:
        handle = self.address_of(message.recipient)
        return await deliver_http(
            session,
            self.url,
            timeout_seconds=self.timeout_seconds,
            headers={"Authorization": f"Bearer {self._token}"},
            json_body={"to": handle, "text": message.text},
        )


@hookimpl
def register_channels(register: Callable[[Channel], None]) -> None:
    settings = provider_settings("OLDCHAT", default_url=None)
    register(OldChatChannel(url=settings.url, token=settings.token, timeout_seconds=settings.timeout_seconds))
