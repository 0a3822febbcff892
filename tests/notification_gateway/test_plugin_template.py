"""The plugin template works as a new author gets it: copied out of the tree, installed, tested, delivering.

It is installed next to the gateway in a throw-away environment (no workspace
settings reach it), its own conformance test runs there, the gateway lists its
channel with the settings it still needs, and, following the walkthrough
(`plugins/README.md`), a message reaches the stand-in provider.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.venvs import REPO, VenvService, make_venv

AUTH = {"Authorization": "Bearer dev-gateway-token", "Content-Type": "application/json"}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_copy_of_the_template_installs_passes_the_kit_and_delivers(tmp_path: Path) -> None:
    copy = tmp_path / "my-plugin"
    shutil.copytree(REPO / "plugins/TEMPLATE", copy)
    assert not (copy / "uv.lock").exists()
    python = make_venv(tmp_path / "venv", "apikit", "notification_gateway[testing]", str(copy))
    environment = {"PATH": str(python.parent), "HOME": str(tmp_path)}

    tests = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-3000:]
    assert " passed" in tests.stdout
    assert "TestChatChannel" in (copy / "tests/test_chat_conformance.py").read_text()

    listed = subprocess.run(
        [str(python), "-m", "notification_gateway", "plugins"],
        cwd=tmp_path,
        env=environment | {"CHAT_API_TOKEN": "chat-token-value-0123"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert listed.returncode == 1, listed.stdout + listed.stderr  # the URL is still missing
    assert "chat: notification-gateway-chat 0.1.0" in listed.stdout
    assert "channel chat: settings incomplete: CHAT_API_URL is not set" in listed.stdout
    assert "chat-token-value-0123" not in listed.stdout

    provider_port, gateway_port = free_port(), free_port()
    provider_log = tmp_path / "provider.log"
    with provider_log.open("wb") as log:
        provider = subprocess.Popen(
            [str(python), "-m", "notification_gateway.testing", str(provider_port)],
            env=environment,
            stdout=log,
            stderr=log,
        )
    try:
        _wait_for_port(provider_port, provider, provider_log)
        env = {
            "APP_ENV": "development",
            "GATEWAY_DATABASE_URL": f"sqlite://{tmp_path / 'gateway.sqlite3'}",
            "GATEWAY_PORT": str(gateway_port),
            "GATEWAY_POLL_SECONDS": "0.1",
            "CHAT_API_URL": f"http://127.0.0.1:{provider_port}/send",
            "CHAT_API_TOKEN": "dev-chat-token",
        }
        gateway = VenvService(
            "notification_gateway", env, gateway_port, tmp_path / "gateway.log", python=python
        )
        gateway.run("migrate")
        gateway.start()
        try:
            body = {
                "recipient": {"id": "u_ada", "name": "Ada", "chat_handle": "@Ada.Lovelace"},
                "message": "Hi {user_name}, your kit has shipped.",
                "channel": "chat",
            }
            notification = _call(f"{gateway.url}/notify", body)
            while notification["status"] not in ("sent", "failed"):
                time.sleep(0.1)
                notification = _call(f"{gateway.url}/notifications/{notification['id']}")
        finally:
            gateway.stop()
    finally:
        provider.terminate()
        provider.wait(timeout=30)

    assert notification["status"] == "sent", notification
    received = provider_log.read_text()
    assert "POST /send" in received
    assert '{"to": "@ada.lovelace", "text": "Hi Ada, your kit has shipped."}' in received
    assert "Bearer dev-chat-token" in received


def _call(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=AUTH)  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
        return json.load(response)


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    while True:
        if process.poll() is not None:
            pytest.fail(f"the stand-in provider exited:\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
