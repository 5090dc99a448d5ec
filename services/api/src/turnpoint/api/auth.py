"""Optional bearer-token protection for reads (TURNPOINT_API__REQUIRE_TOKEN).

Tokens live in the shared `api_token` table as the sha256 hex of the token; a token needs the `read`
scope. Lookups are cached for a few seconds so a busy client costs no query per request; a revoked
token therefore stops working within `CACHE_SECONDS`.
"""

from __future__ import annotations

import hashlib
import time

from turnpoint.api.db import Database
from turnpoint.api.errors import Forbidden, Unauthorized

READ_SCOPE = "read"
CACHE_SECONDS = 10.0
CACHE_MAX = 1024
LOOKUP = "SELECT scopes FROM api_token WHERE token_hash = $1 AND revoked_at IS NULL"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenVerifier:
    def __init__(self, db: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, list[str] | None]] = {}

    async def scopes(self, token: str) -> list[str] | None:
        digest = token_hash(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        scopes = await self.db.fetchval(LOOKUP, digest, generic=True)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now, list(scopes) if scopes is not None else None)
        return self._cache[digest][1]

    async def require(self, authorization: str | None, scope: str = READ_SCOPE) -> None:
        if not authorization or not authorization.lower().startswith("bearer "):
            msg = "this API requires a bearer token: send 'Authorization: Bearer <token>'"
            raise Unauthorized(msg)
        scopes = await self.scopes(authorization[7:].strip())
        if scopes is None:
            msg = "the bearer token is unknown or revoked; ask an operator for a token with the 'read' scope"
            raise Unauthorized(msg)
        if scope not in scopes:
            msg = f"the bearer token lacks the {scope!r} scope"
            raise Forbidden(msg)
