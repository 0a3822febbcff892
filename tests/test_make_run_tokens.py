"""`make run` hands one set of development tokens to every process it starts, and only `make run`."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = ("GATEWAY_TOKEN", "ORDERS_GATEWAY_TOKEN", "ADMIN_TOKEN", "SUPPORT_TOKEN")


def _environment_of_make_run(**env: str) -> dict[str, str]:
    """The variables the `honcho start` line of `make run` sets, read from `make -n` (nothing runs)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    result = subprocess.run(
        ["make", "-n", "--no-print-directory", "run"],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    [line] = [line for line in result.stdout.splitlines() if "honcho start" in line]
    words = shlex.split(line)
    return dict(word.split("=", 1) for word in words[: words.index("honcho")] if "=" in word)


def test_by_default_every_process_gets_the_development_tokens():
    assert _environment_of_make_run() == {
        "GATEWAY_TOKEN": "dev-gateway-token",
        "ORDERS_GATEWAY_TOKEN": "dev-gateway-token",
        "ADMIN_TOKEN": "dev-admin-token",
        "SUPPORT_TOKEN": "dev-support-token",
    }


def test_setting_the_gateway_token_alone_reaches_the_orders_service_too():
    seen = _environment_of_make_run(GATEWAY_TOKEN="my-own-gateway-token,an-older-one")

    assert seen["GATEWAY_TOKEN"] == "my-own-gateway-token,an-older-one"
    assert seen["ORDERS_GATEWAY_TOKEN"] == "my-own-gateway-token"


def test_setting_the_admin_token_just_works():
    assert _environment_of_make_run(ADMIN_TOKEN="my-admin-token")["ADMIN_TOKEN"] == "my-admin-token"
