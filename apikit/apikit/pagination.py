"""Keyset pagination with opaque cursors: stable under inserts, cheap at any depth."""

from __future__ import annotations

import base64
import binascii
import json
import re

from pydantic import BaseModel, Field, field_validator

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


def encode_cursor(after: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The key to continue after; ValueError if the cursor was not made by `encode_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise ValueError("not a cursor this service issued") from None
    if not isinstance(after, str) or not re.fullmatch(r"[ -~]{1,200}", after):
        raise ValueError("not a cursor this service issued")
    return after


class PageQuery(BaseModel):
    """`limit` (1 to 100) and the `cursor` from the previous page's `next_cursor`."""

    model_config = {"extra": "forbid"}

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page, 1 to 100.")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the previous page.")

    @field_validator("cursor")
    @classmethod
    def _cursor_is_ours(cls, cursor: str | None) -> str | None:
        if cursor is not None:
            decode_cursor(cursor)
        return cursor

    @property
    def after(self) -> str | None:
        return decode_cursor(self.cursor) if self.cursor else None
