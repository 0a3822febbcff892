"""What the console shows of the gateway's delivery story, in a real browser against the real system:
each event with its source and reason, a bounce and the fallback hop after it, why a notification
was suppressed, and a user's suppressed addresses and SMS opt-out.

The sandbox bounces `+bounce` e-mail addresses (Barbara's) and sends Ada's STOP reply like a
carrier would; both reach the gateway signed, as a provider's would.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import ADMIN_EMAIL, EXPECT_TIMEOUT_MS, sign_in
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.slow


async def _place_order(page: Page, kit: str, notify_by: str) -> None:
    await page.get_by_label("Kit type").select_option(label=kit)
    await page.get_by_label("Notify by").select_option(label=notify_by)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url(re.compile(r"/console/orders/ord_"))


def _event(page: Page, status: str, channel: str):
    """The timeline's event of `status` on `channel`."""
    return (
        page.locator("#timeline li.event")
        .filter(has=page.locator(".badge", has_text=re.compile(f"^{status}$")))
        .filter(has=page.locator(".channel", has_text=re.compile(f"^{channel}$")))
    )


def _channels(page: Page):
    return page.get_by_role("region", name="Notification channels")


async def test_a_bounce_its_fallback_and_the_suppression_it_leaves_are_shown(page):
    await sign_in(page, ADMIN_EMAIL)
    await page.goto("/console/users/u_barbara")  # her e-mail address bounces; SMS is the fallback
    await _place_order(page, "Whole genome sequencing", "Automatic (by kit type)")

    await expect(page.locator("#timeline .now")).to_contain_text("delivered", timeout=EXPECT_TIMEOUT_MS)
    await expect(page.locator("#timeline .now")).to_contain_text("by SMS")
    bounced = _event(page, "bounced", "email")
    await expect(bounced.locator(".source")).to_have_text("source: provider")
    await expect(bounced).to_contain_text("the address is now suppressed on email")
    hop = _event(page, "queued", "SMS")
    await expect(hop.locator(".source")).to_have_text("source: gateway")
    await expect(hop).to_contain_text("trying sms")
    await expect(_event(page, "delivered", "SMS").locator(".source")).to_have_text("source: provider")
    await expect(_event(page, "queued", "email").locator(".source")).to_have_text("source: caller")

    await page.goto("/console/users/u_barbara")
    channels = _channels(page)
    await expect(channels.locator("li", has_text="email")).to_contain_text("suppressed: bounced")
    await expect(channels.locator("li", has_text="SMS")).to_contain_text("sends")

    await _place_order(page, "Whole genome sequencing", "Email")  # named: no fallback
    await expect(page.locator("#timeline .now")).to_contain_text("suppressed", timeout=EXPECT_TIMEOUT_MS)
    await expect(page.locator("#timeline .suppressed")).to_contain_text("Suppressed: bounced.")
    why = page.locator("#timeline .why")
    await expect(why).to_contain_text("the address is suppressed on email (bounced)")
    await expect(_event(page, "suppressed", "email").locator(".source")).to_have_text("source: worker")


async def test_an_sms_opt_out_shows_on_the_user_page(page, provider):
    await sign_in(page, ADMIN_EMAIL)
    await page.goto("/console/users/u_ada")
    await expect(_channels(page).locator("li", has_text="SMS")).to_contain_text("sends")

    await provider.reply("sms", "+447451277972", "STOP")  # the carrier passes Ada's reply on

    async def opted_out() -> bool:
        await page.reload()
        return "opted out" in await _channels(page).locator("li", has_text="SMS").inner_text()

    await wait_until(opted_out, "Ada's STOP to reach the gateway")
    await expect(_channels(page).locator("li", has_text="SMS")).to_contain_text(
        "suppressed: opted out (replied STOP)"
    )
    await expect(_channels(page).locator("li", has_text="email")).to_contain_text("sends")
