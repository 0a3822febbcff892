"""Browser tests: the whole system as real processes, driven by Debian's Chromium through Playwright.

Browsers are never downloaded: Playwright launches the `chromium` on PATH (`.ci/run` installs it).
The orders service runs in production mode, with staff added by its own CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, async_playwright

from tests.e2e.conftest import (  # noqa: F401 - fixtures the browser tests share with the e2e suite
    Sandbox,
    System,
    http,
    provider,
    receipts_port,
    sandbox,
    unstarted_system,
)

PASSWORD = "console-test-password-0123"
ADMIN_EMAIL = "admin@example.com"
SUPPORT_EMAIL = "support@example.com"
EXPECT_TIMEOUT_MS = 60_000  # a bound on waiting for deliveries, not a benchmark
BLOCKING_IMPACTS = ("serious", "critical")


def add_staff(system: System, email: str, role: str) -> None:
    """`orders-service staff add`, the password on standard input, as an operator would."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "orders_service",
            "staff",
            "add",
            "--email",
            email,
            "--name",
            role.title(),
            "--role",
            role,
        ],
        input=PASSWORD + "\n",
        env=system.orders._environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )


@pytest.fixture
def console_system(unstarted_system):  # noqa: F811 - the e2e fixture, imported above
    unstarted_system.start()
    add_staff(unstarted_system, ADMIN_EMAIL, "admin")
    add_staff(unstarted_system, SUPPORT_EMAIL, "support")
    yield unstarted_system
    unstarted_system.stop()


@pytest.fixture
async def browser() -> Browser:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install chromium (.ci/run does)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser, console_system) -> Page:
    context = await browser.new_context(
        base_url=console_system.orders.url, viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(EXPECT_TIMEOUT_MS)
    opened = await context.new_page()
    yield opened
    await context.close()


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    await page.goto("/console/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Sign out").wait_for()


async def serious_violations(page: Page) -> list[str]:
    """axe-core (vendored in axe-playwright-python) on the page as it is now."""
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in BLOCKING_IMPACTS
    ]
