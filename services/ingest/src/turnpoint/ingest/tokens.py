"""Bearer tokens of the HTTP write API, kept in the shared `api_token` table (sha256 hex, never the token).

`TokenStore` is the synchronous side (the `token` CLI commands); `TokenCache` verifies tokens for the app
with a short-lived cache so that a revoked token stops working within `ttl` seconds.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass

from turnpoint.ingest.errors import TokenError

TOKEN_PREFIX = "tp_"
WRITE_SCOPES = ("write:readings", "write:bars", "write:counts")
KNOWN_SCOPES = (*WRITE_SCOPES, "read")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class TokenStore:
    """Create, revoke, list and look up tokens with psycopg (synchronous)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def _connect(self):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)

    def create(self, name: str, scopes: list[str]) -> str:
        """Store a new token's hash; return the token (shown once, never stored)."""
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown or not scopes:
            msg = f"unknown or missing scopes {unknown or scopes}; use one or more of {', '.join(KNOWN_SCOPES)}"
            raise TokenError(msg)
        import psycopg

        token = new_token()
        try:
            with self._connect() as conn:
                conn.execute("INSERT INTO api_token (name, token_hash, scopes) VALUES (%s, %s, %s)",
                             (name, hash_token(token), scopes))
        except psycopg.errors.UniqueViolation:
            msg = f"a token named {name!r} exists; revoke it or choose another name"
            raise TokenError(msg) from None
        return token

    def revoke(self, name: str) -> None:
        with self._connect() as conn:
            cur = conn.execute("UPDATE api_token SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL",
                               (name,))
            if cur.rowcount == 0:
                msg = f"no active token named {name!r}; see `turnpoint ingest token list`"
                raise TokenError(msg)

    def list(self) -> list[TokenInfo]:
        with self._connect() as conn:
            rows = conn.execute("SELECT id, name, scopes, created_at, revoked_at FROM api_token ORDER BY name").fetchall()
        return [TokenInfo(r[0], r[1], tuple(r[2] or ()), r[3], r[4]) for r in rows]

    def lookup(self, token: str) -> TokenInfo | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT id, name, scopes FROM api_token WHERE token_hash = %s AND revoked_at IS NULL",
                (hash_token(token),),
            ).fetchone()
        return TokenInfo(row[0], row[1], tuple(row[2] or ())) if row else None


class TokenCache:
    """Verifies tokens against the database through a pool, caching answers (also misses) for `ttl` s."""

    def __init__(self, pool, ttl: float = 5.0) -> None:  # type: ignore[no-untyped-def]
        self.pool = pool
        self.ttl = ttl
        self._cache: dict[str, tuple[float, TokenInfo | None]] = {}
        self._lock = threading.Lock()

    async def verify(self, token: str) -> TokenInfo | None:
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, name, scopes FROM api_token WHERE token_hash = %s AND revoked_at IS NULL", (digest,))
            row = await cur.fetchone()
        info = TokenInfo(row[0], row[1], tuple(row[2] or ())) if row else None
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[digest] = (now, info)
        return info
