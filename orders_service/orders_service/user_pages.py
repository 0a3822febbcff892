"""`GET /users/` pages written by the database: one static query returns the page's JSON text.

Building a page of 100 users and their 1,000 orders through the ORM and the presenters made
1,100 model instances and 2,200 timestamp conversions per request, about four fifths of its time.
Here PostgreSQL (string concatenation, `to_json`, `to_char`) or SQLite (`json_object`,
`json_group_array`) writes the very bytes `presenters.user_view` and orjson would write, and the
handler passes them through. `tests/orders_service/test_user_pages.py` holds the two to the same
bytes on varied data; `presenters.user_view` stays the one description of the shape.

Where the two ways could differ: JSON numbers inside `address`, `contacts` or `shipping_info` are
written as the database keeps them (PostgreSQL `1.50` where the ORM path wrote `1.5`). The API
only stores strings there (their schemas say so), so no answer changes.
"""

# ruff: noqa: S608 - the SQL is built once, at import, from this module's own fragments; no input.
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from tortoise import connections

from orders_service.users import like_escaped, search_term

log = logging.getLogger("tortoise.db_client")  # where tortoise logs its statements, so counts include ours


# --- PostgreSQL ----------------------------------------------------------------------------------


def _pg_text(column: str) -> str:
    return f"coalesce(to_json({column})::text, 'null')"


def _pg_plain_text(column: str) -> str:
    """A text that needs no JSON escape, quoted: far cheaper than to_json."""
    return f"coalesce('\"' || {column} || '\"', 'null')"


def _pg_quoting(build: Callable[[Callable[[str], str]], str], columns: tuple[str, ...]) -> str:
    """`build(quote)` with plain quotes, or with to_json where one of `columns` holds a character
    JSON escapes (a quote, a backslash, a control character): to_json on every text was a quarter
    of the query's time."""
    joined = " || ".join(f"coalesce({column}, '')" for column in columns)
    return (
        f"""CASE WHEN {joined} ~ '[\\x01-\\x1f"\\\\]' THEN {build(_pg_text)} """
        f"ELSE {build(_pg_plain_text)} END"
    )


def _pg_time(column: str) -> str:
    # Python's isoformat: microseconds only when there are some.
    formats = """'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'"""
    return (
        f"coalesce('\"' || to_char({column} AT TIME ZONE 'UTC', "
        f"CASE WHEN date_trunc('second', {column}) = {column} THEN {formats} END) || '\"', 'null')"
    )


def _pg_json(text: str) -> str:
    """A jsonb value's text (computed once, in a subquery), as orjson writes it.

    jsonb prints `{"a": 1}`; orjson writes `{"a":1}`. json_strip_nulls re-prints a json value
    compactly, in the same order and with the same escapes, but drops null members; a value that
    may hold one has its blanks outside strings removed instead."""
    return (
        f"coalesce(CASE WHEN strpos({text}, 'null') = 0 THEN json_strip_nulls({text}::json)::text "
        f"""ELSE regexp_replace({text}, '("(?:[^"\\\\]|\\\\.)*")|\\s', '\\1', 'g') END, 'null')"""
    )


def _pg_contacts(column: str, text: str) -> str:
    # `user.contacts or {}`: every falsy JSON value is shown as {}.
    falsy = ", ".join(f"'{value}'::jsonb" for value in ("null", "false", "0", '""', "[]", "{}"))
    return f"CASE WHEN {column} IS NULL OR {column} IN ({falsy}) THEN '{{}}' ELSE {_pg_json(text)} END"


def _pg_object(members: list[tuple[str, str]]) -> str:
    parts = []
    for index, (name, value) in enumerate(members):
        parts.append(f"'{'{' if index == 0 else ','}\"{name}\":' || {value}")
    return " || ".join(parts) + " || '}'"


_PG_ORDER_TEXTS = (
    "o.id",
    "o.user_id",
    "o.sequencing_type",
    "o.status",
    "o.notification_id",
    "o.requested_channel",
    "o.notification_channel",
    "o.notification_status",
    "o.notification_reason",
    "o.placed_by",
)


def _pg_order(quote: Callable[[str], str]) -> str:
    return _pg_object(
        [
            ("id", quote("o.id")),
            ("user_id", quote("o.user_id")),
            ("sequencing_type", quote("o.sequencing_type")),
            ("status", quote("o.status")),
            ("shipping_info", _pg_json("o.shipping_text")),
            (
                "notification",
                _pg_object(
                    [
                        ("id", quote("o.notification_id")),
                        ("requested_channel", quote("o.requested_channel")),
                        ("channel", quote("o.notification_channel")),
                        ("status", quote("o.notification_status")),
                        ("reason", quote("o.notification_reason")),
                    ]
                ),
            ),
            ("placed_by", quote("o.placed_by")),
            ("created_at", _pg_time("o.created_at")),
            ("updated_at", _pg_time("o.updated_at")),
        ]
    )


_PG_ORDERS = _pg_quoting(_pg_order, _PG_ORDER_TEXTS)

_PG_USER = _pg_object(
    [
        ("id", _pg_text("u.id")),
        ("name", _pg_text("u.name")),
        ("email", _pg_text("u.email")),
        ("phone_number", _pg_text("u.phone_number")),
        ("address", _pg_json("u.address_text")),
        ("contacts", _pg_contacts("u.contacts", "u.contacts_text")),
        ("created_at", _pg_time("u.created_at")),
        ("updated_at", _pg_time("u.updated_at")),
        (
            "orders",
            f"'[' || coalesce((SELECT string_agg({_PG_ORDERS}, ',' ORDER BY o.created_at, o.id) "
            "FROM (SELECT *, shipping_info::text AS shipping_text FROM dna_kit_orders "
            "WHERE user_id = u.id OFFSET 0) o), '') || ']'",
        ),
    ]
)


def _pg_page(users: str) -> str:
    """`users`: the page's users and one more, which only says whether another page follows."""
    return f"""
WITH page AS ({users}),
shown AS (
    SELECT *, address::text AS address_text, contacts::text AS contacts_text FROM page ORDER BY id LIMIT $2
)
SELECT '[' || coalesce(string_agg({_PG_USER}, ',' ORDER BY u.id), '') || ']', count(*), max(u.id),
       (SELECT count(*) FROM page) > $2
FROM shown u
"""


PG_PAGE_SQL = _pg_page("SELECT * FROM users WHERE ($1::varchar IS NULL OR id > $1) ORDER BY id LIMIT $2 + 1")

# The matches are found first, through the trigram index, and only then ordered (users.MATCHING_IDS_SQL
# says why).
PG_SEARCH_SQL = _pg_page(
    """
    WITH matches AS MATERIALIZED (
        SELECT id FROM users WHERE search_text LIKE '%' || $3 || '%' AND ($1::varchar IS NULL OR id > $1)
    )
    SELECT users.* FROM users WHERE id IN (SELECT id FROM matches ORDER BY id LIMIT $2 + 1)
    ORDER BY id LIMIT $2 + 1"""
)


# --- SQLite --------------------------------------------------------------------------------------


def _sqlite_time(column: str) -> str:
    # Stored as Python's isoformat(" "), in UTC with `+00:00`: change the separator and the offset.
    # Any other offset (or none) goes through strftime, whole seconds only, so nothing is rounded.
    offset = f"substr({column}, -6, 1) IN ('+', '-')"
    return (
        f"CASE WHEN {column} LIKE '%+00:00' "
        f"THEN substr({column}, 1, 10) || 'T' || substr({column}, 12, length({column}) - 17) || 'Z' "
        f"ELSE strftime('%Y-%m-%dT%H:%M:%S', "
        f"substr({column}, 1, 19) || CASE WHEN {offset} THEN substr({column}, -6) ELSE '' END) "
        f"|| substr({column}, 20, length({column}) - CASE WHEN {offset} THEN 25 ELSE 19 END) || 'Z' END"
    )


def _sqlite_contacts(column: str) -> str:
    # `user.contacts or {}`: every falsy JSON value is shown as {}.
    return (
        f"json(CASE WHEN {column} IS NULL OR json_type({column}) IN ('null', 'false') "
        f"OR json({column}) IN ('[]', '{{}}', '\"\"') "
        f"OR (json_type({column}) IN ('integer', 'real') AND json_extract({column}, '$') = 0) "
        f"THEN '{{}}' ELSE {column} END)"
    )


_SQLITE_ORDER = f"""json_object(
    'id', o.id, 'user_id', o.user_id, 'sequencing_type', o.sequencing_type, 'status', o.status,
    'shipping_info', json(o.shipping_info),
    'notification', json_object(
        'id', o.notification_id, 'requested_channel', o.requested_channel, 'channel', o.notification_channel,
        'status', o.notification_status, 'reason', o.notification_reason),
    'placed_by', o.placed_by, 'created_at', {_sqlite_time("o.created_at")},
    'updated_at', {_sqlite_time("o.updated_at")})"""

# The user's members, then its orders' array spliced in as text: a JSON value passed through a
# subquery may lose its JSON subtype (and be quoted as a string) in some SQLite versions, and
# json() around it would parse every order again. `updated_at` ends the object, so rtrim takes
# exactly its closing brace.
_SQLITE_USER = f"""rtrim(json_object(
    'id', u.id, 'name', u.name, 'email', u.email, 'phone_number', u.phone_number,
    'address', json(u.address), 'contacts', {_sqlite_contacts("u.contacts")},
    'created_at', {_sqlite_time("u.created_at")}, 'updated_at', {_sqlite_time("u.updated_at")}), '}}')
    || ',"orders":' || (
        SELECT json_group_array({_SQLITE_ORDER})
        FROM (SELECT * FROM dna_kit_orders WHERE user_id = u.id ORDER BY created_at, id) o
    ) || '}}'"""


def _sqlite_page(where: str) -> str:
    """Parameters: 1 the id to continue after (or NULL), 2 the page size, 3 (searches) the LIKE pattern.

    SQLite before 3.44 has no ORDER BY inside an aggregate; the aggregates read ordered subqueries,
    which SQLite keeps unflattened and reads in their order (the test checks both orders)."""
    return f"""
WITH page AS (SELECT * FROM users WHERE (?1 IS NULL OR id > ?1){where} ORDER BY id LIMIT ?2 + 1),
shown AS (SELECT * FROM page ORDER BY id LIMIT ?2)
SELECT '[' || coalesce((SELECT group_concat(user, ',')
                        FROM (SELECT {_SQLITE_USER} AS user FROM shown u ORDER BY u.id)), '') || ']',
       (SELECT count(*) FROM shown), (SELECT max(id) FROM shown), (SELECT count(*) FROM page) > ?2
"""


SQLITE_PAGE_SQL = _sqlite_page("")
SQLITE_SEARCH_SQL = _sqlite_page(" AND search_text LIKE ?3 ESCAPE '\\'")


# --- reading a page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserPage:
    """The page's `data` as JSON text, how many users it holds, and the id to continue after."""

    data: bytes
    count: int
    last_id: str | None


async def read_page(
    *, limit: int, after: str | None, q: str | None = None, default_region: str = "GB"
) -> UserPage:
    """Users ordered by id with their orders, as `users.list_users` finds them and
    `presenters.user_view` shows them."""
    client = connections.get("default")
    term = like_escaped(search_term(q, default_region)) if q else None
    async with client.acquire_connection() as connection:
        if client.capabilities.dialect == "postgres":
            sql, values = (
                (PG_SEARCH_SQL, [after, limit, term]) if term is not None else (PG_PAGE_SQL, [after, limit])
            )
            log.debug("%s: %s", sql, values)
            data, count, last_id, more = await connection.fetchrow(sql, *values)
        else:
            if term is not None:
                sql, values = SQLITE_SEARCH_SQL, [after, limit, f"%{term}%"]
            else:
                sql, values = SQLITE_PAGE_SQL, [after, limit]
            log.debug("%s: %s", sql, values)
            async with connection.execute(sql, values) as cursor:
                data, count, last_id, more = await cursor.fetchone()
    return UserPage(data.encode(), count, last_id if more else None)


def page_body(page: UserPage, next_cursor: str | None) -> bytes:
    """The `GET /users/` answer, as orjson writes `{"data": [...], "count": n, "next_cursor": ...}`."""
    return b'{"data":%s,"count":%d,"next_cursor":%s}' % (page.data, page.count, orjson.dumps(next_cursor))
