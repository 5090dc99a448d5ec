"""Optional bearer-token protection for reads (TURNPOINT_API__REQUIRE_TOKEN).

Tokens live in the shared `api_token` table as the sha256 hex of the token; a token needs the `read`
scope. Lookups are cached for a few seconds so a busy client costs no query per request; a revoked
token therefore stops working within `CACHE_SECONDS`.
"""

from __future__ import annotations

import datetime as dt
import time

from turnpoint.api.db import Database
from turnpoint.api.errors import Forbidden, Unauthorized
from turnpoint.web.tokens import hash_token as token_hash

READ_SCOPE = "read"
CACHE_SECONDS = 10.0
CACHE_MAX = 1024
# The current secret until expires_at, or the previous (rotated-out) one until its grace period ends
# (migration 0009; `turnpoint ingest token rotate`). LEAST skips NULLs: no expiry is NULL.
LOOKUP = """
SELECT scopes, CASE WHEN token_hash = $1 THEN expires_at ELSE LEAST(previous_valid_until, expires_at) END
FROM api_token WHERE revoked_at IS NULL AND (token_hash = $1 OR previous_token_hash = $1)
"""


class TokenVerifier:
    def __init__(self, db: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[list[str], dt.datetime | None] | None]] = {}

    async def lookup(self, token: str) -> tuple[list[str], dt.datetime | None] | None:
        """(scopes, the time the secret stops being valid or None), or None for an unknown token."""
        digest = token_hash(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.cache_seconds:
            return hit[1]
        row = await self.db.fetchrow(LOOKUP, digest, generic=True)
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now, (list(row[0]), row[1]) if row is not None else None)
        return self._cache[digest][1]

    async def require(self, authorization: str | None, scope: str = READ_SCOPE) -> None:
        if not authorization or not authorization.lower().startswith("bearer "):
            msg = "this API requires a bearer token: send 'Authorization: Bearer <token>'"
            raise Unauthorized(msg)
        found = await self.lookup(authorization[7:].strip())
        if found is None:
            msg = "the bearer token is unknown or revoked; ask an operator for a token with the 'read' scope"
            raise Unauthorized(msg)
        scopes, valid_until = found
        if valid_until is not None and valid_until <= dt.datetime.now(dt.UTC):
            msg = (f"the bearer token expired at {valid_until.isoformat()}; ask an operator for a new one "
                   "(`turnpoint ingest token rotate NAME`)")
            raise Unauthorized(msg)
        if scope not in scopes:
            msg = f"the bearer token lacks the {scope!r} scope"
            raise Forbidden(msg)
