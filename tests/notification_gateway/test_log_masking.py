"""No log level prints an address: the gateway masks every installed channel's contact field.

A push topic or a pigeon loft looks like any other word, so no pattern finds it;
the gateway knows each channel's recipient field and masks what sits under it,
including inside the recipient JSON the database driver logs at DEBUG.
"""

from __future__ import annotations

import asyncio
import logging

from notification_gateway.app import create_app
from tests.notification_gateway.conftest import ORDERS, PigeonChannel, PigeonPlugin, notify, notify_body

LOFT = "north-loft-7f3a9c2e"
TOPIC = "alan-kit-updates-91bd"
EMAIL = "bird.fancier@example.com"
PHONE = "+447451277972"


class CarelessPigeon(PigeonChannel):
    """Logs the address it sends to, as a careless plugin might."""

    async def send(self, message, session):
        careless = logging.getLogger("careless_plugin")
        careless.debug("flying to %s for %r", message.address, message.recipient)
        careless.debug("also known as %s", dict(message.recipient.contacts))
        return await super().send(message, session)


async def test_debug_logs_with_sql_show_no_address(aiohttp_client, gateway_settings, logs):
    plugin = PigeonPlugin()
    plugin.channel = CarelessPigeon()
    settings = gateway_settings.model_copy(
        update={"workers_enabled": True, "poll_seconds": 0.05, "plugins": "email,sms,push"}
    )
    client = await aiohttp_client(create_app(settings, extra_plugins=[("pigeon", plugin)]))
    recipient = {
        "id": "u_b",
        "name": "Bird",
        "loft": LOFT,
        "push_topic": TOPIC,
        "email": EMAIL,
        "phone_number": PHONE,
    }

    accepted = await (await notify(client, notify_body(recipient=recipient, channel="pigeon"))).json()
    status = accepted["status"]
    while status != "sent":
        await asyncio.sleep(0.05)
        status = (await (await client.get(f"/notifications/{accepted['id']}", headers=ORDERS)).json())[
            "status"
        ]

    written = logs.getvalue()
    assert "INSERT" in written, "DEBUG did not log the SQL, so this test proves nothing"
    assert "flying to ***" in written
    for address in (LOFT, TOPIC, EMAIL, PHONE):
        assert address not in written, f"{address} reached a log line"
