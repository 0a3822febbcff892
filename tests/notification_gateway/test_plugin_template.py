"""The plugin template works as a new author gets it: copied out of the tree, installed, tested, listed.

It is installed next to the gateway in a throw-away environment (no workspace
settings reach it), its own conformance test runs there, and the gateway lists
its channel with the settings it still needs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.venvs import REPO, make_venv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_copy_of_the_template_installs_passes_the_kit_and_is_listed(tmp_path: Path) -> None:
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
