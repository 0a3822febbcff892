"""`/docs` in a real browser: Debian's chromium, driven by Playwright, authorizes with the bearer token
and runs one request through "Try it out". Every asset comes from the service itself (no CDN)."""

from __future__ import annotations

import os
import shutil

import pytest
from playwright.async_api import async_playwright

from orders_service.db import orders_tortoise_config
from tests.processes import ServiceProcess, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture
def orders(database_server, tmp_path):
    """The orders service in development mode (demo tokens), with the demo users seeded."""
    port = free_port()
    service = ServiceProcess(
        "orders_service",
        {
            "APP_ENV": "development",
            "ORDERS_DATABASE_URL": database_server.database_url("orders", orders_tortoise_config, tmp_path),
            "ORDERS_PORT": str(port),
            "ORDERS_RELAY_ENABLED": "false",
        },
        port=port,
        log_path=tmp_path / "orders.log",
    )
    service.run("seed")
    service.start()
    yield service
    service.stop()


async def test_try_it_out_with_the_bearer_token(orders, chromium):
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            elsewhere: list[str] = []
            page.on(
                "request",
                lambda request: None if request.url.startswith(orders.url) else elsewhere.append(request.url),
            )
            await page.goto(f"{orders.url}/docs")
            await page.get_by_role("button", name="Authorize").first.click()
            await page.locator("#auth-bearer-value").fill("dev-support-token")
            await page.get_by_role("button", name="Apply credentials").click()
            await page.locator(".modal-ux .btn-done").click()

            operation = page.locator("#operations-users-get_user")
            await operation.locator(".opblock-summary").click()
            await operation.get_by_role("button", name="Try it out").click()
            await operation.locator("input[placeholder='user_id']").fill("u_ada")
            await operation.get_by_role("button", name="Execute").click()

            status = operation.locator(".live-responses-table tr.response .response-col_status").first
            await status.wait_for()
            assert (await status.inner_text()).strip() == "200"
            body = await operation.locator(".live-responses-table .microlight").first.inner_text()
            assert '"id": "u_ada"' in body
            assert elsewhere == []  # nothing loaded from anywhere but the service
        finally:
            await browser.close()
