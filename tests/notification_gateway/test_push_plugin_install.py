"""Installing the push distribution adds `push` to `GET /channels`; uninstalling it removes it.

No code, setting or allow-list changes between the three starts: the gateway
finds channel plugins through their entry points alone. Runs in a throw-away
virtual environment, since the workspace's own has every plugin installed.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.processes import free_port
from tests.venvs import VenvService, find_uv, make_venv, uv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

BASE_DISTRIBUTIONS = ("apikit", "notification_gateway", "plugins/email", "plugins/sms")
PUSH_DISTRIBUTION = "plugins/push"
AUTH = {"Authorization": "Bearer dev-gateway-token"}
# Nothing listens on the discard port: the gateway must start, never deliver.
UNUSED = "http://127.0.0.1:9"


def _channels(python: Path, env: dict[str, str], log_path: Path) -> dict[str, dict]:
    """Start the gateway, read `GET /channels`, stop it: the channels by name."""
    port = free_port()
    gateway = VenvService(
        "notification_gateway", env | {"GATEWAY_PORT": str(port)}, port, log_path, python=python
    )
    gateway.start()
    try:
        request = urllib.request.Request(f"{gateway.url}/channels", headers=AUTH)  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            assert response.status == 200
            body = json.load(response)
    finally:
        gateway.stop()
    return {entry["name"]: entry for entry in body["data"]}


def test_installing_the_push_plugin_adds_the_channel_and_uninstalling_removes_it(tmp_path: Path) -> None:
    uv_path = find_uv()
    python = make_venv(tmp_path / "venv", *BASE_DISTRIBUTIONS)

    env = {
        "APP_ENV": "development",
        "GATEWAY_DATABASE_URL": f"sqlite://{tmp_path / 'gateway.sqlite3'}",
        "EMAIL_API_URL": f"{UNUSED}/email",
        "EMAIL_API_TOKEN": "email-provider-token",
        "SMS_API_URL": f"{UNUSED}/sms",
        "SMS_API_TOKEN": "sms-provider-token",
        "PUSH_API_URL": f"{UNUSED}/push",
        "LOG_LEVEL": "WARNING",
    }
    VenvService("notification_gateway", env, 0, tmp_path / "migrate.log", python=python).run("migrate")

    before = _channels(python, env, tmp_path / "gateway-before.log")
    assert set(before) == {"email", "sms"}

    uv(uv_path, "pip", "install", "--quiet", "--python", str(python), f"./{PUSH_DISTRIBUTION}")
    installed = _channels(python, env, tmp_path / "gateway-installed.log")
    assert set(installed) == {"email", "push", "sms"}
    assert installed["push"]["recipient_field"] == "push_topic"
    assert installed["push"]["plugin"] == "push"

    uv(uv_path, "pip", "uninstall", "--quiet", "--python", str(python), "notification-gateway-push")
    after = _channels(python, env, tmp_path / "gateway-after.log")
    assert set(after) == {"email", "sms"}
