"""A plugin written against version 1 of the channel contract still delivers, with one warning naming it.

The plugin (`tests/old_style_plugin`) is installed, as an operator would, into
a throw-away environment holding only the gateway; the provider is a local
HTTP server that records what it receives.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.venvs import VenvService, make_venv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

AUTH = {"Authorization": "Bearer dev-gateway-token", "Content-Type": "application/json"}
TOKEN = "oldchat-provider-token-0123456789"


class _Provider(BaseHTTPRequestHandler):
    """Records each request on its server (`server.received`) and accepts it."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), body))
        answer = b'{"id": "chat_1"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        """Quiet: the gateway's log is the one under test."""


def _call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=AUTH)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.load(response)


def test_a_version_1_plugin_delivers_and_is_named_once_as_deprecated(tmp_path: Path) -> None:
    python = make_venv(tmp_path / "venv", "apikit", "notification_gateway", "tests/old_style_plugin")
    provider = ThreadingHTTPServer(("127.0.0.1", 0), _Provider)
    provider.received = []
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    port = free_port()
    env = {
        "APP_ENV": "development",
        "GATEWAY_DATABASE_URL": f"sqlite://{tmp_path / 'gateway.sqlite3'}",
        "GATEWAY_PORT": str(port),
        "GATEWAY_POLL_SECONDS": "0.1",
        "OLDCHAT_API_URL": f"http://127.0.0.1:{provider.server_address[1]}/chat",
        "OLDCHAT_API_TOKEN": TOKEN,
        "LOG_LEVEL": "INFO",
    }
    gateway = VenvService("notification_gateway", env, port, tmp_path / "gateway.log", python=python)
    gateway.run("migrate")
    gateway.start()
    try:
        recipient = {"id": "u_1", "name": "Ada", "chat_handle": "@ada-lovelace"}
        accepted = _call(
            f"{gateway.url}/notify",
            "POST",
            {"recipient": recipient, "message": "Hi {user_name}", "channel": "oldchat"},
        )
        notification = accepted
        while notification["status"] not in ("sent", "failed"):
            time.sleep(0.1)
            notification = _call(f"{gateway.url}/notifications/{accepted['id']}")
    finally:
        gateway.stop()
        provider.shutdown()
        provider.server_close()

    assert notification["status"] == "sent", notification
    ((path, headers, body),) = provider.received
    assert path == "/chat"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert json.loads(body) == {"to": "@ada-lovelace", "text": "Hi Ada"}
    warnings = [
        line for line in gateway.log_path.read_text().splitlines() if "version 1 channel contract" in line
    ]
    assert len(warnings) == 1, warnings
    assert "plugin 'oldchat' (notification-gateway-oldchat)" in warnings[0]
