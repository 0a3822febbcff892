"""Installing the push distribution adds `push` to `GET /channels`; uninstalling it removes it.

No code, setting or allow-list changes between the three starts: the gateway
finds channel plugins through their entry points alone. Runs in a throw-away
virtual environment, since the workspace's own has every plugin installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import ServiceProcess, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).parents[2]
BASE_DISTRIBUTIONS = ("apikit", "notification_gateway", "plugins/email", "plugins/sms")
PUSH_DISTRIBUTION = "plugins/push"
UV_TIMEOUT_SECONDS = 300
AUTH = {"Authorization": "Bearer dev-gateway-token"}
# Nothing listens on the discard port: the gateway must start, never deliver.
UNUSED = "http://127.0.0.1:9"
# Passed through from the test's environment; a developer's GATEWAY_*, PYTHONPATH or VIRTUAL_ENV is not.
_KEPT_VARIABLES = ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL")


@dataclass
class VenvService(ServiceProcess):
    """A `ServiceProcess` run by another environment's interpreter, with a minimal environment."""

    python: Path = field(kw_only=True)

    def _environment(self) -> dict[str, str]:
        return {key: os.environ[key] for key in _KEPT_VARIABLES if key in os.environ} | self.env

    def run(self, command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.python), "-m", self.module, command],
            env=self._environment(),
            cwd=self.log_path.parent,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def start(self, *, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.python), "-m", self.module, "serve"],
                env=self._environment(),
                cwd=self.log_path.parent,  # not the repo root: nothing may come from the source tree
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.wait_healthy(timeout)


def _find_uv() -> str:
    bundled = REPO / ".tools/bin/uv"
    found = shutil.which("uv") or (str(bundled) if bundled.is_file() else None)
    if found is None:
        pytest.fail(f"this test needs uv to build a virtual environment: not on PATH, nor at {bundled}")
    return found


def _uv(uv: str, *args: str) -> None:
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
    result = subprocess.run(
        [uv, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=UV_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stderr[-3000:]}"


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
    uv = _find_uv()
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    _uv(uv, "venv", "--quiet", "--python", sys.executable, str(venv))
    _uv(
        uv,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        *(f"./{path}" for path in BASE_DISTRIBUTIONS),
    )

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

    _uv(uv, "pip", "install", "--quiet", "--python", str(python), f"./{PUSH_DISTRIBUTION}")
    installed = _channels(python, env, tmp_path / "gateway-installed.log")
    assert set(installed) == {"email", "push", "sms"}
    assert installed["push"]["recipient_field"] == "push_topic"
    assert installed["push"]["plugin"] == "push"

    _uv(uv, "pip", "uninstall", "--quiet", "--python", str(python), "notification-gateway-push")
    after = _channels(python, env, tmp_path / "gateway-after.log")
    assert set(after) == {"email", "sms"}
