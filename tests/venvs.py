"""Throw-away virtual environments with only the distributions a test installs, and services run from them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.processes import ServiceProcess

REPO = Path(__file__).parents[1]
UV_TIMEOUT_SECONDS = 300
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


def find_uv() -> str:
    bundled = REPO / ".tools/bin/uv"
    found = shutil.which("uv") or (str(bundled) if bundled.is_file() else None)
    if found is None:
        pytest.fail(f"this test needs uv to build a virtual environment: not on PATH, nor at {bundled}")
    return found


def uv(uv: str, *args: str) -> None:
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


def make_venv(directory: Path, *distributions: str) -> Path:
    """A fresh environment in `directory` with these local distributions (from the repo root, or absolute).

    A distribution may name extras: `notification_gateway[testing]`.
    """
    uv_path = find_uv()
    python = directory / "bin" / "python"
    uv(uv_path, "venv", "--quiet", "--python", sys.executable, str(directory))
    uv(
        uv_path,
        "pip",
        "install",
        "--quiet",
        "--python",
        str(python),
        *(str(REPO / path) for path in distributions),
    )
    return python
