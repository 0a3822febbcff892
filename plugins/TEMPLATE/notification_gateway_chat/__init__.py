"""The chat channel: one POST to the chat provider's API per message."""

import re

from notification_gateway import HttpChannel, Message, hookimpl

_HANDLE = re.compile(r"@[a-z0-9_.-]{1,32}")


class ChatChannel(HttpChannel):
    """Sends the message text to the recipient's chat handle."""

    name = "chat"  # what callers ask for: lower-case letters, digits, `-` and `_`
    recipient_field = "chat_handle"  # the recipient's contact field holding the address
    env_prefix = "CHAT"  # settings: CHAT_API_URL, CHAT_API_TOKEN, CHAT_TIMEOUT_SECONDS
    default_url = None  # or your provider's production URL
    description = "Chat messages through the chat provider's API."

    def check_address(self, value: str) -> str:
        """The handle as the provider wants it; ValueError if it cannot take it."""
        handle = value.lower()
        if not _HANDLE.fullmatch(handle):
            raise ValueError("not a chat handle")
        return handle

    def build_request(self, message: Message) -> tuple[dict, dict]:
        """The JSON body and any headers beyond `Authorization: Bearer <CHAT_API_TOKEN>`."""
        return {"to": message.address, "text": message.text}, {}


@hookimpl
def register_channels(register):
    register(ChatChannel)
