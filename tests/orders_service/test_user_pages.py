"""`GET /users/` pages written by the database are the very bytes the ORM and presenters wrote.

The reference is the path the pages took before: `users.list_users` (tortoise models), then
`presenters.user_view` and orjson. The data covers what could make the two differ: users with no
orders and with many, every notification status, channels requested or not, reasons and names with
quotes, backslashes, control characters and non-Latin text, JSON members that are null or hold
JSON-looking text, contacts that are not an object, timestamps with and without microseconds (and,
on SQLite, stored with another offset or none), orders created at the same instant, searches and
every page of every cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from tortoise import connections

from apikit.pagination import encode_cursor
from orders_service import users
from orders_service.contacts import search_text
from orders_service.lifecycle import OrderNotificationStatus, OrderStatus, SequencingType
from orders_service.models import DNAKitOrder, User
from orders_service.presenters import user_view
from tests.orders_service.conftest import SHIPPING, SUPPORT

T0 = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)  # no microseconds
ODD_TEXT = 'quote " backslash \\ tab \t newline \n bell \x07 del \x7f sep \u2028 é 李 🧬 "null": , '


async def _user(user_id: str, name: str, email: str, phone: str | None = None, **fields) -> User:
    return await User.create(
        id=user_id,
        name=name,
        email=email,
        phone_number=phone,
        search_text=search_text(name, email, phone),
        **fields,
    )


async def _order(user_id: str, n: int, created: datetime, **fields) -> None:
    order = await DNAKitOrder.create(
        **{"shipping_info": SHIPPING}
        | fields
        | {"id": f"ord_{user_id}_{n:02d}", "user_id": user_id, "sequencing_type": list(SequencingType)[n % 4]}
    )
    # auto_now fields ignore given values on create; set the times the test needs afterwards.
    await DNAKitOrder.filter(id=order.id).update(
        created_at=created, updated_at=created + timedelta(seconds=n)
    )


async def _varied_users() -> None:
    await _user(
        "u_many",
        "Zoë Ñandú 李雷 🧬",
        "zoe@example.com",
        "+447451277972",
        address={
            "address_lines": ["1 Rue de l'Église", 'Flat "B"'],
            "city": "Zürich",
            "postcode": "8001",
            "country": "CH",
        },
        contacts={"push_topic": "zoe-kit"},
    )
    statuses = list(OrderNotificationStatus)
    for n, status in enumerate(statuses + statuses[:4]):
        await _order(
            "u_many",
            n,
            # Two pairs of orders share their creation time, so their id orders them; some times
            # carry microseconds, some do not.
            T0 + timedelta(minutes=n // 2 * 2, microseconds=(n * 123457) % 1_000_000 if n % 3 else 0),
            status=list(OrderStatus)[n % len(OrderStatus)],
            notification_status=status,
            requested_channel=("email", None, "sms")[n % 3],
            notification_channel=(None, "email", "sms", "push")[n % 4],
            notification_id='ntf_3 \\ "q"' if n == 3 else (f"ntf_{n}" if n % 2 else None),
            notification_reason=ODD_TEXT if n % 4 == 1 else ("mailbox full" if n % 4 == 2 else None),
            placed_by="token:\x01\x1f" if n == 7 else ("staff:zoe@example.com" if n % 2 else None),
            shipping_info=SHIPPING | {"region": ODD_TEXT} if n == 5 else SHIPPING,
        )
    await _user("u_none", ODD_TEXT.strip()[:200], "none@example.com")
    await _user(
        "u_nulls",
        "Null Members",
        "nulls@example.com",
        address={"address_lines": ["null, : {}"], "city": "null", "region": None, "country": "GB"},
        contacts={"push_topic": None, "pager": "a, b: c"},
    )
    await _order("u_nulls", 0, T0 - timedelta(days=400))
    await _user("u_listcontacts", "List Contacts", "list@example.com", contacts=[])
    await _user("u_falsecontacts", "False Contacts", "false@example.com", contacts=0)
    for n in range(7):
        user_id = f"u_zz{n}"
        await _user(user_id, f"Filler {n} Li", f"filler{n}@example.com")
        await _order(user_id, 1, T0 + timedelta(hours=n, microseconds=n * 10))
    # Users' own times, one without microseconds and one in another time zone.
    await User.filter(id="u_none").update(
        created_at=T0, updated_at=T0.astimezone(timezone(timedelta(hours=2)))
    )

    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        # Text another writer could have stored: another offset, no offset.
        await connection.execute_query(
            "UPDATE users SET created_at = '2026-01-02 03:04:05.000120+02:00', "
            "updated_at = '2026-01-02 03:04:05' WHERE id = 'u_nulls'"
        )


async def _old_answer(limit: int, after: str | None, q: str | None) -> bytes:
    found, last_id = await users.list_users(limit=limit, after=after, q=q)
    next_cursor = encode_cursor(last_id) if last_id else None
    return orjson.dumps(
        {"data": [user_view(user) for user in found], "count": len(found), "next_cursor": next_cursor}
    )


async def _walk(client, limit: int, q: str | None) -> list[bytes]:
    """Every page of the listing, each checked against the old answer for the same request."""
    pages, after = [], None
    while True:
        query = {"limit": str(limit)} | ({"q": q} if q is not None else {})
        if after is not None:
            query["cursor"] = encode_cursor(after)
        response = await client.get("/users/", params=query, headers=SUPPORT)
        body = await response.read()
        assert response.status == 200, body
        assert response.content_type == "application/json"
        assert body == await _old_answer(limit, after, q)
        pages.append(body)
        page = orjson.loads(body)
        if page["next_cursor"] is None:
            return pages
        after = page["data"][-1]["id"]


async def test_every_page_is_byte_for_byte_the_old_answer(client):
    await _varied_users()

    pages = await _walk(client, 100, None)
    for limit in (1, 3, 12):
        assert len(await _walk(client, limit, None)) == -(-12 // limit)

    whole = pages[0]
    # The data really holds what the comparison is about.
    page = orjson.loads(whole)
    by_id = {user["id"]: user for user in page["data"]}
    assert page["count"] == 12
    assert len(by_id["u_many"]["orders"]) == 13
    assert by_id["u_none"]["orders"] == []
    assert {order["notification"]["status"] for order in by_id["u_many"]["orders"]} == {
        str(status) for status in OrderNotificationStatus
    }
    assert {order["notification"]["requested_channel"] for order in by_id["u_many"]["orders"]} == {
        "email",
        "sms",
        None,
    }
    assert b'"2026-03-01T09:30:00Z"' in whole
    assert b'"2026-03-01T09:30:00.123457Z"' in whole
    assert by_id["u_none"]["updated_at"] == "2026-03-01T09:30:00Z"
    assert by_id["u_listcontacts"]["contacts"] == {} == by_id["u_falsecontacts"]["contacts"]
    assert by_id["u_nulls"]["address"]["region"] is None
    assert by_id["u_nulls"]["contacts"]["push_topic"] is None
    assert ODD_TEXT.encode() not in whole
    assert orjson.dumps(ODD_TEXT) in whole


@pytest.mark.parametrize(
    "q", ["li", "LI", "07451 277972", "+44 7451 277972", "zoë", "%", "_", "\\", "null", "  "]
)
async def test_searches_are_byte_for_byte_the_old_answer(client, q):
    await _varied_users()

    pages = await _walk(client, 2, q)

    if q in ("li", "LI"):
        assert len(pages) == 5  # seven fillers, u_listcontacts and u_none ("newline"), two a page
