"""Console sessions: aiohttp-session with the session kept in the database, not in the cookie.

The cookie carries only a random token (HttpOnly, SameSite=Lax, Secure outside
development); the table keeps its SHA-256, who signed in, and when the session
was last used. So signing out or disabling an account ends the session for good,
a session idle longer than the timeout is gone, and every replica sees the same.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from aiohttp import web
from aiohttp_session import AbstractStorage, Session

from orders_service.models import StaffSession

COOKIE_NAME = "console_session"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class DatabaseSessionStorage(AbstractStorage):
    def __init__(self, *, idle_seconds: int, secure: bool) -> None:
        super().__init__(
            cookie_name=COOKIE_NAME,
            path="/console",
            secure=secure,
            httponly=True,
            samesite="Lax",
            max_age=None,
        )
        self.idle = timedelta(seconds=idle_seconds)

    async def load_session(self, request: web.Request) -> Session:
        token = self.load_cookie(request)
        if token:
            row = await StaffSession.get_or_none(id=_digest(token))
            if row is not None and row.last_seen_at > datetime.now(UTC) - self.idle:
                data = {"created": int(row.created_at.timestamp()), "session": row.data}
                return Session(token, data=data, new=False, max_age=None)
            if row is not None:
                await row.delete()
        return Session(None, data=None, new=True, max_age=None)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        now = datetime.now(UTC)
        if session.empty:
            if session.identity:
                await self.forget(session.identity)
            self.save_cookie(response, "", max_age=None)
            return
        data = dict(session)
        if session.identity is None:
            token = secrets.token_urlsafe(32)
            session.set_new_identity(token)
            await StaffSession.create(
                id=_digest(token), staff_id=data["staff_id"], data=data, last_seen_at=now
            )
        else:
            await StaffSession.filter(id=_digest(session.identity)).update(data=data, last_seen_at=now)
        self.save_cookie(response, session.identity, max_age=None)

    async def forget(self, token: str) -> None:
        await StaffSession.filter(id=_digest(token)).delete()
