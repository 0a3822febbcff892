"""The console's journeys, in a real browser against the real system.

Controls are found by their accessible names, which are part of the console's contract.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import (
    ADMIN_EMAIL,
    EXPECT_TIMEOUT_MS,
    SUPPORT_EMAIL,
    serious_violations,
    sign_in,
)
from tests.e2e.conftest import ADMIN, wait_until

pytestmark = pytest.mark.slow


async def _place_order(page: Page, kit: str, notify_by: str = "Automatic (by kit type)") -> str:
    await page.get_by_label("Kit type").select_option(label=kit)
    await page.get_by_label("Notify by").select_option(label=notify_by)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url(re.compile(r"/console/orders/ord_"))
    return page.url.rsplit("/", 1)[1]


async def _open_user(page: Page, search: str, name: str) -> None:
    await page.goto("/console/users")
    await page.get_by_label("Search users").fill(search)
    await page.get_by_label("Search users").press("Enter")
    await page.get_by_role("link", name=name).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(name)


async def test_journey_1_an_admin_places_an_order_and_watches_it_arrive_by_sms(page, provider):
    await sign_in(page, ADMIN_EMAIL)
    await _open_user(page, "ada", "Ada Lovelace")

    order_id = await _place_order(page, "Whole exome sequencing")

    timeline = page.locator("#timeline")
    await expect(timeline).to_contain_text("delivered", timeout=EXPECT_TIMEOUT_MS)
    await expect(timeline.locator(".now")).to_contain_text("by SMS")
    await expect(page.get_by_text("Placed by", exact=True)).to_be_visible()
    await expect(page.locator("dd", has_text=ADMIN_EMAIL)).to_be_visible()
    [sms] = await provider.messages("sms")
    assert sms["recipient"] == "+447451277972"
    assert order_id in sms["message"]


async def test_journey_2_adding_a_phone_number_makes_sms_usable(page):
    await sign_in(page, ADMIN_EMAIL)
    await _open_user(page, "grace", "Grace Hopper")
    sms = page.get_by_label("Notify by").locator("option", has_text="SMS")
    await expect(sms).to_be_disabled()
    await expect(sms).to_contain_text("no phone number")

    await page.get_by_label("Phone number").fill("+1 202 555 0143")
    await page.get_by_role("button", name="Save contact details").click()

    await expect(page.get_by_label("Phone number")).to_have_value("+12025550143")
    await expect(sms).to_be_enabled()
    await expect(sms).not_to_contain_text("no phone number")


async def test_journey_3_a_failed_notification_needs_attention_and_is_resent_by_email(page, provider):
    await provider.faults("email", status=400)  # the provider refuses every e-mail for good
    await sign_in(page, ADMIN_EMAIL)
    await _open_user(page, "grace", "Grace Hopper")  # no phone: e-mail is the only way to reach her
    order_id = await _place_order(page, "Whole genome sequencing")
    await expect(page.locator("#timeline .now")).to_contain_text("failed", timeout=EXPECT_TIMEOUT_MS)

    await page.get_by_role("link", name="Orders").click()
    attention = page.get_by_role("region", name="Needs attention")
    await attention.get_by_role("link", name=order_id).click()
    await provider.faults("email")  # the provider is well again
    await page.get_by_label("Send by").select_option(label="Email")
    await page.get_by_role("button", name="Resend notification").click()

    await expect(page.locator("#timeline .now")).to_contain_text("delivered", timeout=EXPECT_TIMEOUT_MS)
    await expect(page.locator("#timeline")).to_contain_text("Queued again for email")
    [email] = await provider.messages("email")
    assert email["recipient"] == "grace@example.com"
    await page.get_by_role("link", name="Orders").click()
    await expect(page.get_by_role("region", name="Needs attention")).to_have_count(0)


async def test_journey_4_support_reads_but_cannot_place_orders(page):
    await sign_in(page, SUPPORT_EMAIL)
    await _open_user(page, "ada", "Ada Lovelace")

    await expect(page.get_by_role("button", name="Place order")).to_have_count(0)
    await expect(page.get_by_role("button", name="Save contact details")).to_have_count(0)
    token = await page.locator('meta[name="csrf-token"]').get_attribute("content")
    forged = await page.request.post(
        "/console/users/u_ada/orders",
        form={"csrf_token": token, "sequencing_type": "whole-exome-sequencing"},
    )
    assert forged.status == 403
    assert "Only admins" in await forged.text()


async def test_journey_5_csrf_and_sign_in_limits(page, console_system, http):
    await sign_in(page, ADMIN_EMAIL)
    without_token = await page.request.post("/console/users/u_ada", form={"name": "Mallory"})
    assert without_token.status == 403
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("button", name="Sign in")).to_be_visible()

    statuses = []
    for _ in range(6):
        await page.get_by_label("Email").fill(ADMIN_EMAIL)
        await page.get_by_label("Password").fill("not the password")
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.get_by_role("button", name="Sign in").click()
        statuses.append((await answer.value).status)

    assert statuses == [400, 400, 400, 400, 400, 429]
    assert int((await answer.value).headers["retry-after"]) > 0
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    async with http.get(f"{console_system.orders.url}/users/u_ada", headers=ADMIN) as response:
        assert (await response.json())["name"] == "Ada Lovelace"  # the forged change wrote nothing


async def test_journey_6_no_page_has_a_serious_accessibility_violation(page, console_system, provider):
    await provider.faults("email", status=400)
    await page.goto("/console/sign-in")
    found = {"sign in": await serious_violations(page)}
    await sign_in(page, ADMIN_EMAIL)
    await page.goto("/console/users?q=a")
    found["users"] = await serious_violations(page)
    await _open_user(page, "grace", "Grace Hopper")
    found["user"] = await serious_violations(page)
    await page.get_by_role("button", name="Place order").click()  # no kit chosen: errors by the fields
    await expect(page.locator(".field-error").first).to_be_visible()
    found["user with form errors"] = await serious_violations(page)
    await _place_order(page, "Targeted sequencing")
    await expect(page.locator("#timeline .now")).to_contain_text("failed", timeout=EXPECT_TIMEOUT_MS)
    found["order"] = await serious_violations(page)
    await page.goto("/console/orders")
    found["orders"] = await serious_violations(page)
    await page.goto("/console/orders/ord_none")
    found["not found"] = await serious_violations(page)
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto("/console/orders")
    found["orders on a phone"] = await serious_violations(page)

    assert {name: issues for name, issues in found.items() if issues} == {}


async def test_with_the_gateway_down_the_page_says_so_and_placing_an_order_still_works(page, console_system):
    console_system.gateway.stop()
    await sign_in(page, ADMIN_EMAIL)
    await _open_user(page, "ada", "Ada Lovelace")
    await expect(page.get_by_role("status")).to_contain_text("gateway cannot be reached")
    await expect(page.get_by_role("region", name="Notification channels")).to_contain_text(
        "(the gateway cannot be reached (ClientConnectorError))"
    )

    order_id = await _place_order(page, "Whole exome sequencing")

    await expect(page.locator("#timeline")).to_contain_text(
        "Waiting for the gateway", timeout=EXPECT_TIMEOUT_MS
    )
    console_system.gateway.start()

    async def delivered() -> bool:
        return "delivered" in (await page.locator("#timeline .now").inner_text())

    await wait_until(delivered, f"order {order_id} to be delivered once the gateway is back")
