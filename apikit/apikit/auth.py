"""Bearer tokens with roles, compared in constant time.

Tokens come from configuration, never from code. A caller is known by the
principal's name (safe to log), never by its token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from apikit.problems import Problem


@dataclass(frozen=True)
class Principal:
    """Who is calling: a loggable name and the roles its token grants."""

    name: str
    roles: frozenset[str]


class TokenRegistry:
    """Maps presented bearer tokens to principals without timing leaks."""

    def __init__(self, entries: Iterable[tuple[str, Principal]]) -> None:
        self._entries = [(_digest(token), principal) for token, principal in entries]

    def __len__(self) -> int:
        return len(self._entries)

    def authenticate(self, presented: str) -> Principal | None:
        # Compare against every entry, so the time taken says nothing about which matched.
        presented_digest = _digest(presented)
        found = None
        for digest, principal in self._entries:
            if hmac.compare_digest(digest, presented_digest):
                found = principal
        return found


def _digest(token: str) -> bytes:
    # Equal-length digests make compare_digest's time independent of token length.
    return hashlib.sha256(token.encode()).digest()


def bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authorize(
    request: web.Request, registry: TokenRegistry, allowed_roles: frozenset[str], realm: str
) -> Principal:
    """Return the caller's principal or raise 401 (who are you?) / 403 (not allowed)."""
    token = bearer_token(request)
    if token is None:
        raise Problem(
            401,
            detail="Send a bearer token in the Authorization header.",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}"'},
        )
    principal = registry.authenticate(token)
    if principal is None:
        raise Problem(
            401,
            detail="The bearer token is not valid.",
            headers={"WWW-Authenticate": f'Bearer realm="{realm}", error="invalid_token"'},
        )
    if not principal.roles & allowed_roles:
        raise Problem(
            403,
            detail=f"This needs one of the roles: {', '.join(sorted(allowed_roles))}.",
        )
    return principal
