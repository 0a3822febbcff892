"""Running our services as real processes on loopback, for end-to-end and fuzzing tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from notification_gateway.settings import DEFAULT_ROUTING_FILE

# Variables the services read; cleared so a developer's shell cannot leak into a test.
_SERVICE_VARIABLES = (
    "APP_ENV",
    "ADMIN_TOKEN",
    "SUPPORT_TOKEN",
    "LOG_LEVEL",
    "DEFAULT_PHONE_REGION",
    "ORDERS_",
    "GATEWAY_",
    "EMAIL_",
    "SMS_",
    "PUSH_",
    "SANDBOX_",
    "PROVIDER_SANDBOX_",
)


@cache
def routing_at_any_hour() -> Path:
    """The shipped routing without its `[quiet_hours]`, so an SMS sent by a test goes now at any
    hour of the day rather than the next morning. Tests of quiet hours keep the shipped file and
    set the clock themselves."""
    shipped = DEFAULT_ROUTING_FILE.read_text()
    text = shipped.split("\n[quiet_hours]\n")[0] + "\n"
    expected = {key: value for key, value in tomllib.loads(shipped).items() if key != "quiet_hours"}
    assert tomllib.loads(text) == expected, "[quiet_hours] is no longer the routing file's last table"
    path = Path(tempfile.mkdtemp(prefix="routing-")) / "routing.toml"
    path.write_text(text)
    return path


_handed_out: set[int] = set()
# CI runs the SQLite and the PostgreSQL suite side by side: each takes only ports of its own half
# (by remainder modulo 4, odd and even alike), so one never hands out a port the other is about to bind.
_OUR_REMAINDERS = {2, 3} if os.environ.get("TEST_DATABASE", "sqlite") == "postgres" else {0, 1}


def free_port() -> int:
    """A port nothing listens on, and one not handed out before in this run: the kernel may offer a
    port again as soon as it is released, before the service it was meant for has bound it."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port % 4 in _OUR_REMAINDERS and port not in _handed_out:
            _handed_out.add(port)
            return port


@dataclass
class ServiceProcess:
    """One service (`python -m <module> serve`) with its own environment and log file."""

    module: str
    env: dict[str, str]
    port: int
    log_path: Path
    process: subprocess.Popen | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _environment(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_SERVICE_VARIABLES)}
        if self.module == "notification_gateway":
            base["GATEWAY_ROUTING_FILE"] = str(routing_at_any_hour())
        return base | self.env

    def run(self, command: str) -> subprocess.CompletedProcess:
        """A one-off command of the service's CLI (`migrate`, `seed`), which must succeed."""
        return subprocess.run(
            [sys.executable, "-m", self.module, command],
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    def start(self, *, timeout: float = 20.0) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module, "serve"],
                env=self._environment(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.module} exited early:\n{self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.module} did not become healthy:\n{self.log_path.read_text()[-3000:]}")

    def stop(self, *, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not stop in time; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        return self.process.wait(10) if self.process else 0
