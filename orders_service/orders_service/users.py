"""Reading, finding, adding and changing users. Users are never deleted: orders refer to them.

Lists embed each user's orders in a fixed number of queries whatever the page size.
"""

from __future__ import annotations

import re
from typing import Any

import phonenumbers
from tortoise import connections
from tortoise.query_utils import Prefetch

from apikit.errors import DomainError
from apikit.ids import is_well_formed
from orders_service.contacts import digits_of, normalize_email, normalize_phone_number, search_text
from orders_service.models import DNAKitOrder, User
from orders_service.schemas import ChangeUser, NewUser

_PHONE_LIKE = re.compile(r"^[+\d][\d\s().-]*$")
MIN_PHONE_SEARCH_DIGITS = 3


class UserNotFound(DomainError):
    """No user has the requested id."""


class InvalidContact(DomainError):
    """An e-mail address or phone number that cannot be used."""


def _with_orders():
    # One query for all the page's orders, oldest first, instead of one per user.
    return Prefetch("orders", queryset=DNAKitOrder.all().order_by("created_at", "id"))


def search_term(q: str, default_region: str) -> str:
    """What to look for in `search_text`: a phone number's digits (E.164 when it parses as one,
    so "07451 277972" finds +447451277972), else the lower-cased text. Control characters are
    dropped: no stored text has them, and PostgreSQL refuses a NUL in a query parameter."""
    text = "".join(char for char in q if char.isprintable()).strip()
    if _PHONE_LIKE.match(text) and len(digits_of(text)) >= MIN_PHONE_SEARCH_DIGITS:
        try:
            parsed = phonenumbers.parse(text, default_region)
            if phonenumbers.is_valid_number(parsed):
                return digits_of(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        except phonenumbers.NumberParseException:
            pass
        digits = digits_of(text)
        # A national number's leading 0 is not in E.164; "07451" is found as "7451".
        return digits.lstrip("0") or digits
    return text.lower()


async def list_users(
    *, limit: int, after: str | None, q: str | None = None, default_region: str = "GB"
) -> tuple[list[User], str | None]:
    """A page of users ordered by id, and the id to continue after (None on the last page).

    `q` is matched with `LIKE '%term%'` on `search_text`, which a trigram index serves on PostgreSQL."""
    query = User.all().order_by("id").limit(limit + 1)
    if q:
        term = search_term(q, default_region)
        connection = connections.get("default")
        if connection.capabilities.dialect == "postgres":
            query = query.filter(id__in=await _matching_ids(connection, term, after=after, limit=limit + 1))
        else:
            query = query.filter(search_text__contains=term)
    if after is not None:
        query = query.filter(id__gt=after)
    users = await query.prefetch_related(_with_orders())
    if len(users) > limit:
        return users[:limit], users[limit - 1].id
    return users, None


# The matches are found first, through the trigram index, and only then ordered. A plain
# `WHERE search_text LIKE $1 ORDER BY id LIMIT n` gets a generic plan from PostgreSQL after a few
# runs that walks the primary key and filters every row: 30 ms for a rare name in 100,000 users,
# against 0.1 ms this way (benchmarks/users_search.py).
MATCHING_IDS_SQL = """
WITH matches AS MATERIALIZED (
    SELECT id FROM users WHERE search_text LIKE '%' || $1 || '%' AND ($2::varchar IS NULL OR id > $2)
)
SELECT id FROM matches ORDER BY id LIMIT $3
"""


def like_escaped(term: str) -> str:
    """`term` for a LIKE pattern with the default escape character: its %, _ and \\ match themselves."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _matching_ids(connection, term: str, *, after: str | None, limit: int) -> list[str]:
    _, rows = await connection.execute_query(MATCHING_IDS_SQL, [like_escaped(term), after, limit])
    return [row["id"] for row in rows]


async def get_user(user_id: str) -> User:
    if not is_well_formed(user_id):
        raise UserNotFound(f"No user has the id {user_id!r}.")
    user = await User.get_or_none(id=user_id).prefetch_related(_with_orders())
    if user is None:
        raise UserNotFound(f"No user has the id {user_id!r}.")
    return user


def _email(raw: str) -> str:
    try:
        return normalize_email(raw)
    except ValueError as exc:
        raise InvalidContact(f"The e-mail address is not valid: {exc}", pointer="#/email") from None


def _phone(raw: str | None, region: str) -> str | None:
    if raw is None:
        return None
    try:
        return normalize_phone_number(raw, region)
    except ValueError as exc:
        raise InvalidContact(
            f"The phone number is not valid: {exc}. Write it with its country code, e.g. +44 7911 123456.",
            pointer="#/phone_number",
        ) from None


async def create_user(command: NewUser, *, default_region: str) -> User:
    email, phone = _email(command.email), _phone(command.phone_number, default_region)
    user = await User.create(
        name=command.name,
        email=email,
        phone_number=phone,
        address=command.address.model_dump(mode="json", exclude_none=True) if command.address else None,
        search_text=search_text(command.name, email, phone),
    )
    return await get_user(user.id)


async def change_user(user_id: str, change: ChangeUser, *, default_region: str) -> User:
    """Apply the members the patch names (a merge patch: `null` removes the phone or address)."""
    user = await get_user(user_id)
    given = change.model_fields_set
    values: dict[str, Any] = {}
    if "name" in given:
        values["name"] = change.name
    if "email" in given:
        values["email"] = _email(change.email)
    if "phone_number" in given:
        values["phone_number"] = _phone(change.phone_number, default_region)
    if "address" in given:
        values["address"] = (
            change.address.model_dump(mode="json", exclude_none=True) if change.address else None
        )
    for name, value in values.items():
        setattr(user, name, value)
    user.search_text = search_text(user.name, user.email, user.phone_number)
    await user.save(update_fields=[*values, "search_text", "updated_at"])
    return await get_user(user_id)
