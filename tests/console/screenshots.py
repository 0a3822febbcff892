"""`make screenshots`: the console's pages, as PNGs in docs/screenshots/, from the real system.

Runs the same processes as the browser tests (SQLite, the provider sandbox, the gateway and the
orders service on free loopback ports) and Debian's chromium.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

import aiohttp
from playwright.async_api import Page, async_playwright, expect

from tests.console.conftest import ADMIN_EMAIL, EXPECT_TIMEOUT_MS, SUPPORT_EMAIL, add_staff, sign_in
from tests.databases import SqliteServer
from tests.e2e.conftest import Sandbox, System
from tests.processes import ServiceProcess, free_port

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


async def _shoot(page: Page, name: str) -> None:
    await page.screenshot(path=OUT / f"{name}.png", full_page=True)
    print(f"wrote docs/screenshots/{name}.png")


async def _place(page: Page, kit: str) -> None:
    await page.get_by_label("Kit type").select_option(label=kit)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/console/orders/ord_*")


async def _tour(system: System, chromium: str) -> None:
    async with aiohttp.ClientSession() as http, async_playwright() as playwright:
        provider = Sandbox(http, system.sandbox.url)
        browser = await playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = await browser.new_context(base_url=system.orders.url, viewport=DESKTOP)
        context.set_default_timeout(EXPECT_TIMEOUT_MS)
        page = await context.new_page()

        await page.goto("/console/sign-in")
        await _shoot(page, "sign-in")
        await sign_in(page, ADMIN_EMAIL)

        await provider.faults("email", status=400)
        await page.goto("/console/users/u_grace")
        await _place(page, "Whole genome sequencing")
        await expect(page.locator("#timeline .now")).to_contain_text("failed")
        await provider.faults("email")

        await page.goto("/console/users/u_ada")
        await _place(page, "Whole exome sequencing")
        await expect(page.locator("#timeline .now")).to_contain_text("delivered")
        await _shoot(page, "order")

        await page.goto("/console/users/u_barbara")  # her e-mail bounces: the gateway falls back to SMS
        await _place(page, "Whole genome sequencing")
        await expect(page.locator("#timeline .now")).to_contain_text("delivered")
        await _shoot(page, "order-fallback")
        await page.goto("/console/users/u_barbara")
        await _shoot(page, "user-suppressed")

        await page.goto("/console/users?q=a")
        await _shoot(page, "users")
        await page.goto("/console/users/u_ada")
        await _shoot(page, "user")
        await page.get_by_label("Phone number").fill("12345")
        await page.get_by_role("button", name="Save contact details").click()
        await _shoot(page, "user-form-error")
        await page.goto("/console/orders")
        await _shoot(page, "orders")
        await page.get_by_role("region", name="Needs attention").get_by_role("link").first.click()
        await _shoot(page, "order-failed")

        await page.set_viewport_size(PHONE)
        await page.goto("/console/orders")
        await _shoot(page, "orders-phone")

        await page.set_viewport_size(DESKTOP)
        await page.get_by_role("button", name="Sign out").click()
        await sign_in(page, SUPPORT_EMAIL)
        await page.goto("/console/users/u_ada")
        await _shoot(page, "user-support")
        await browser.close()


def main() -> int:
    chromium = shutil.which("chromium")
    if chromium is None:
        print("screenshots: Debian's chromium is needed (apt-get install chromium)", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        gateway = f"http://127.0.0.1:{(gateway_port := free_port())}"
        receipts = {  # signed receipts and replies go to the gateway, as with `make run`
            "SANDBOX_RECEIPTS_URL": f"{gateway}/receipts",
            "SANDBOX_INBOUND_URL": f"{gateway}/inbound",
            "SANDBOX_RECEIPT_DELAY_MS": "100",
        }
        sandbox = ServiceProcess(
            "provider_sandbox", receipts, port=free_port(), log_path=root / "sandbox.log"
        )
        sandbox.env["PROVIDER_SANDBOX_PORT"] = str(sandbox.port)
        sandbox.start()
        system = System(SqliteServer(root), root, sandbox, gateway_port=gateway_port)
        try:
            system.start()
            add_staff(system, ADMIN_EMAIL, "admin")
            add_staff(system, SUPPORT_EMAIL, "support")
            asyncio.run(_tour(system, chromium))
        finally:
            system.stop()
            sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
