"""`make run` hands one set of development tokens to every process it starts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VARIABLES = ("GATEWAY_TOKEN", "ORDERS_GATEWAY_TOKEN", "ADMIN_TOKEN", "SUPPORT_TOKEN")


def _environment_of_make_run(**env: str) -> dict[str, str]:
    """What the processes of `make run` see, read through make itself (no process is started)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    show = "show: ; @" + " ; ".join(f'echo "{name}=$${name}"' for name in VARIABLES)
    base = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    result = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", show, "show"],
        cwd=ROOT,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


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
