"""The console over HTTP, in process: sessions, CSRF, roles, sign-in limits and form errors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import pytest
from yarl import URL

from apikit.settings import Environment
from orders_service.app import create_app
from orders_service.keys import GATEWAY, NOTIFICATIONS, RELAY
from orders_service.lifecycle import StaffRole
from orders_service.models import DNAKitOrder, OrderChange, StaffSession, User
from orders_service.relay import OutboxRelay
from orders_service.staff import add_staff, disable_staff
from tests.orders_service.conftest import ADMIN

PASSWORD = "correct horse battery staple"
FORM_KEY = re.compile(r'name="form_key" value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Visitor:
    """A browser's cookie handling, by hand: the test client's jar would drop Secure cookies on http."""

    def __init__(self, client) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}
        self.last_set_cookies: list = []

    def _remember(self, response) -> None:
        self.last_set_cookies = []
        for header in response.headers.getall("Set-Cookie", []):
            cookie = SimpleCookie(header)
            for name, morsel in cookie.items():
                self.last_set_cookies.append(morsel)
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)

    async def get(self, path: str, **kwargs):
        response = await self.client.get(path, headers=self._headers(), allow_redirects=False, **kwargs)
        self._remember(response)
        return response

    async def post(self, path: str, data: dict, **kwargs):
        response = await self.client.post(
            path, data=data, headers=self._headers(), allow_redirects=False, **kwargs
        )
        self._remember(response)
        return response

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    async def token(self, path: str) -> str:
        response = await self.get(path)
        assert response.status == 200, await response.text()
        return CSRF.search(await response.text()).group(1)

    async def sign_in(self, email: str, password: str = PASSWORD):
        token = await self.token("/console/sign-in")
        return await self.post(
            "/console/sign-in", {"csrf_token": token, "email": email, "password": password}
        )


@pytest.fixture
async def staff(client):
    await add_staff(email="admin@example.com", name="Ada Admin", role=StaffRole.ADMIN, password=PASSWORD)
    await add_staff(
        email="support@example.com", name="Sam Support", role=StaffRole.SUPPORT, password=PASSWORD
    )


@pytest.fixture
async def admin(client, staff) -> Visitor:
    visitor = Visitor(client)
    response = await visitor.sign_in("admin@example.com")
    assert response.status == 303
    return visitor


@pytest.fixture
async def support(client, staff) -> Visitor:
    visitor = Visitor(client)
    assert (await visitor.sign_in("support@example.com")).status == 303
    return visitor


async def test_pages_need_a_signed_in_member_of_staff(client):
    response = await Visitor(client).get("/console/users?q=ada")

    assert response.status == 303
    location = URL(response.headers["Location"])
    assert (location.path, location.query["next"]) == ("/console/sign-in", "/console/users?q=ada")


async def test_the_session_cookie_is_httponly_lax_and_secure_outside_development(client, staff):
    visitor = Visitor(client)

    response = await visitor.sign_in("admin@example.com")

    [session] = [m for m in visitor.last_set_cookies if m.key == "console_session"]
    assert response.headers["Location"] == "/console/users"
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"
    assert session["secure"] is True
    assert session["path"] == "/console"
    assert session.value not in str(await StaffSession.all().values_list("id", flat=True))  # only its hash


async def test_signing_in_again_rotates_the_session_and_ends_the_old_one(client, admin):
    old = admin.cookies["console_session"]

    assert (await admin.sign_in("admin@example.com")).status == 303

    assert admin.cookies["console_session"] != old
    stale = Visitor(client)
    stale.cookies["console_session"] = old
    assert (await stale.get("/console/users")).status == 303
    assert (await admin.get("/console/users")).status == 200


async def test_signing_out_ends_the_session_for_good(client, admin):
    cookie = admin.cookies["console_session"]
    token = await admin.token("/console/users")

    response = await admin.post("/console/sign-out", {"csrf_token": token})

    assert response.status == 303
    assert "console_session" not in admin.cookies
    replayed = Visitor(client)
    replayed.cookies["console_session"] = cookie
    assert (await replayed.get("/console/users")).status == 303
    assert await StaffSession.all().count() == 0


async def test_an_idle_session_ends(client, admin):
    await StaffSession.all().update(last_seen_at=datetime.now(UTC) - timedelta(seconds=1801))

    response = await admin.get("/console/users")

    assert response.status == 303
    assert response.headers["Location"].startswith("/console/sign-in")


async def test_a_form_without_its_csrf_token_is_a_403_and_changes_nothing(client, admin, ada):
    missing = await admin.post(f"/console/users/{ada.id}", {"name": "Mallory"})
    forged = await admin.post(f"/console/users/{ada.id}", {"name": "Mallory", "csrf_token": "guess"})
    sign_out = await admin.post("/console/sign-out", {})

    assert (missing.status, forged.status, sign_out.status) == (403, 403, 403)
    assert "security token" in await missing.text()
    assert (await User.get(id=ada.id)).name == "Ada Lovelace"
    assert (await admin.get("/console/users")).status == 200  # still signed in


async def test_the_sign_in_form_needs_its_token_too(client, staff):
    response = await Visitor(client).post(
        "/console/sign-in", {"email": "admin@example.com", "password": PASSWORD}
    )

    assert response.status == 403
    assert await StaffSession.all().count() == 0


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, staff):
    wrong_password = await Visitor(client).sign_in("admin@example.com", "wrong password!!")
    unknown = await Visitor(client).sign_in("nobody@example.com", PASSWORD)

    assert wrong_password.status == unknown.status == 400
    assert "The e-mail address or password is not right." in await wrong_password.text()
    assert "The e-mail address or password is not right." in await unknown.text()


async def test_repeated_wrong_passwords_get_a_429_with_retry_after(client, staff):
    visitor = Visitor(client)
    for _ in range(5):
        assert (await visitor.sign_in("admin@example.com", "wrong password!!")).status == 400

    limited = await visitor.sign_in("admin@example.com", PASSWORD)

    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 900
    assert "Too many failed sign-ins" in await limited.text()
    assert "console_session" not in visitor.cookies


async def test_next_never_leaves_the_console(client, staff):
    visitor = Visitor(client)
    token = await visitor.token("/console/sign-in")

    response = await visitor.post(
        "/console/sign-in?next=https://evil.example/",
        {"csrf_token": token, "email": "admin@example.com", "password": PASSWORD},
    )

    assert response.headers["Location"] == "/console/users"


async def test_support_sees_no_controls_and_a_forged_post_is_a_403(client, support, ada):
    page = await (await support.get(f"/console/users/{ada.id}")).text()
    token = CSRF.search(page).group(1)

    forged = await support.post(
        f"/console/users/{ada.id}/orders",
        {"csrf_token": token, "sequencing_type": "whole-exome-sequencing"},
    )

    assert "Place order" not in page
    assert "Save contact details" not in page
    assert forged.status == 403
    assert await DNAKitOrder.all().count() == 0


async def test_a_bad_phone_number_is_shown_next_to_its_field_and_nothing_is_written(client, admin, ada):
    token = await admin.token(f"/console/users/{ada.id}")

    response = await admin.post(
        f"/console/users/{ada.id}",
        {"csrf_token": token, "name": "Ada Lovelace", "email": "ada@example.com", "phone_number": "+44 1234"},
    )

    page = await response.text()
    assert response.status == 422
    assert re.search(r'id="phone_number"[^>]*aria-invalid="true"', page)
    assert 'id="phone_number-error">The phone number is not valid' in page
    assert (await User.get(id=ada.id)).phone_number == "+447451277972"


async def test_an_order_placed_in_the_console_names_the_member_of_staff(client, admin, ada):
    token = await admin.token(f"/console/users/{ada.id}")
    form = {
        "csrf_token": token,
        "sequencing_type": "whole-genome-sequencing",
        "notification_channel": "",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }

    response = await admin.post(f"/console/users/{ada.id}/orders", form)

    [order] = await DNAKitOrder.all()
    assert response.status == 303
    assert response.headers["Location"] == f"/console/orders/{order.id}"
    assert order.placed_by == "staff:admin@example.com"
    page = await (await admin.get(f"/console/orders/{order.id}")).text()
    assert "admin@example.com" in page


async def test_an_order_form_submitted_twice_places_one_order(client, admin, ada):
    page = await (await admin.get(f"/console/users/{ada.id}")).text()
    form = {
        "csrf_token": CSRF.search(page).group(1),
        "form_key": FORM_KEY.search(page).group(1),
        "sequencing_type": "whole-exome-sequencing",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }

    first = await admin.post(f"/console/users/{ada.id}/orders", form)
    again = await admin.post(f"/console/users/{ada.id}/orders", form)
    edited = await admin.post(f"/console/users/{ada.id}/orders", form | {"shipping_info.city": "Leeds"})
    fresh_key = FORM_KEY.search(await edited.text()).group(1)
    another = await admin.post(
        f"/console/users/{ada.id}/orders", form | {"form_key": fresh_key, "shipping_info.city": "Leeds"}
    )

    orders = await DNAKitOrder.all().order_by("id")
    assert [order.shipping_info["city"] for order in orders] == ["London", "Leeds"]
    assert (first.status, again.status, another.status) == (303, 303, 303)
    assert first.headers["Location"] == again.headers["Location"] == f"/console/orders/{orders[0].id}"
    assert another.headers["Location"] == f"/console/orders/{orders[1].id}"
    assert edited.status == 422
    assert "This form has already placed an order" in await edited.text()
    assert fresh_key != form["form_key"]


@pytest.mark.parametrize("key", ["", "schlüssel", "k" * 300])
async def test_an_order_form_with_a_key_no_page_makes_places_its_order_each_time(client, admin, ada, key):
    page = await (await admin.get(f"/console/users/{ada.id}")).text()
    form = {
        "csrf_token": CSRF.search(page).group(1),
        "form_key": key,
        "sequencing_type": "whole-genome-sequencing",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }

    answers = [await admin.post(f"/console/users/{ada.id}/orders", form) for _ in range(2)]

    orders = await DNAKitOrder.all().order_by("id")
    assert [answer.status for answer in answers] == [303, 303]  # not refused: simply not deduplicated
    assert [answer.headers["Location"] for answer in answers] == [f"/console/orders/{o.id}" for o in orders]
    assert len(orders) == 2


async def test_a_disabled_account_is_signed_out(client, admin):
    await disable_staff("admin@example.com")

    assert (await admin.get("/console/users")).status == 303


async def test_in_development_the_cookie_is_not_secure(aiohttp_client, orders_settings):
    development = orders_settings.model_copy(update={"environment": Environment.DEVELOPMENT})
    visitor = Visitor(await aiohttp_client(create_app(development)))
    await add_staff(email="admin@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)

    assert (await visitor.sign_in("admin@example.com")).status == 303

    [session] = [m for m in visitor.last_set_cookies if m.key == "console_session"]
    assert session["secure"] == ""
    assert session["httponly"] is True


async def test_an_order_placed_in_the_console_wakes_the_relay(aiohttp_client, orders_settings, monkeypatch):
    """The relay belongs to the main application, not the console's: it must still be woken."""
    app = create_app(orders_settings.model_copy(update={"relay_enabled": True}))
    visitor = Visitor(await aiohttp_client(app))
    # Spied once the app runs: PostgreSQL's listener, which holds the relay's own `wake` from
    # start-up, wakes it too (on every connection), and is not what this test is about.
    woken = []
    monkeypatch.setattr(OutboxRelay, "wake", lambda relay: woken.append(relay))
    await add_staff(email="admin@example.com", name="A", role=StaffRole.ADMIN, password=PASSWORD)
    user = await User.create(id="u_ada", name="Ada Lovelace", email="ada@example.com")
    assert (await visitor.sign_in("admin@example.com")).status == 303
    form = {
        "csrf_token": await visitor.token(f"/console/users/{user.id}"),
        "sequencing_type": "targeted-sequencing",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }

    placed = await visitor.post(f"/console/users/{user.id}/orders", form)

    assert placed.status == 303
    assert woken == [app[RELAY]]


async def test_cancel_order_in_the_console_withdraws_the_notification_and_names_who(client, admin, ada):
    token = await admin.token(f"/console/users/{ada.id}")
    form = {
        "csrf_token": token,
        "sequencing_type": "targeted-sequencing",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }
    placed = await admin.post(f"/console/users/{ada.id}/orders", form)
    order_page = placed.headers["Location"]

    cancelled = await admin.post(f"{order_page}/status", {"csrf_token": token, "status": "cancelled"})
    illegal = await admin.post(f"{order_page}/status", {"csrf_token": token, "status": "shipped"})

    [order] = await DNAKitOrder.all()
    changes = await OrderChange.filter(order_id=order.id).order_by("id")
    assert cancelled.status == 303
    assert (order.status, order.notification_status) == ("cancelled", "cancelled")
    assert [(c.kind, c.actor) for c in changes] == [
        ("placed", "staff:admin@example.com"),
        ("status", "staff:admin@example.com"),
        ("notification_cancelled", "staff:admin@example.com"),
    ]
    assert illegal.status == 409
    assert "cannot become shipped" in await illegal.text()
    page = await (await admin.get(order_page)).text()
    assert "Cancel order" not in page  # a cancelled order has no moves left
    assert "Withdrawn before it was handed over" in page


async def test_a_named_channel_that_cannot_be_checked_is_reported_by_notify_by(
    client, admin, ada, monkeypatch
):
    token = await admin.token(f"/console/users/{ada.id}")
    monkeypatch.setattr(client.app[GATEWAY], "base_url", "http://127.0.0.1:9")  # the gateway is gone
    monkeypatch.setattr(client.app[NOTIFICATIONS].directory, "_cached", None)
    form = {
        "csrf_token": token,
        "sequencing_type": "targeted-sequencing",
        "notification_channel": "sms",
        "shipping_info.recipient_name": "Ada Lovelace",
        "shipping_info.address_lines.0": "12 Example Street",
        "shipping_info.city": "London",
        "shipping_info.postcode": "N1 9GU",
        "shipping_info.country": "GB",
    }

    named = await admin.post(f"/console/users/{ada.id}/orders", form)
    automatic = await admin.post(f"/console/users/{ada.id}/orders", form | {"notification_channel": ""})

    page = await named.text()
    assert named.status == 503
    assert 'id="notification_channel-error">The notification gateway cannot be asked' in page
    assert "gateway cannot be reached, so its channels cannot be listed" in page
    assert automatic.status == 303  # the outbox keeps it until the gateway is back
    assert await DNAKitOrder.all().count() == 1


async def test_a_search_with_control_characters_still_finds_people(client, admin):
    created = await client.post(
        "/users", json={"name": "Ada Lovelace", "email": "ada@example.com"}, headers=ADMIN
    )
    assert created.status == 201
    response = await admin.get("/console/users?q=ad%00a%1B")

    assert response.status == 200
    page = await response.text()
    assert "Ada Lovelace" in page
    assert "\x00" not in page
