"""Bearer tokens of the HTTP write API, kept in the shared `api_token` table (sha256 hex, never the token).

`TokenStore` is the synchronous side (the `token` CLI commands); `TokenCache` verifies tokens for the app
with a short-lived cache so that a revoked token stops working within `ttl` seconds.

Lifetimes (migration 0009): a token may carry `expires_at`; `rotate` gives a token a new secret and keeps
the old one valid for a grace period (`previous_token_hash` until `previous_valid_until`). Expiry is
checked on every request against the time the presented secret stops being valid (`valid_until`), so a
cached answer never outlives it. `last_used_at` is written at most once a minute per token.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turnpoint.ingest.errors import TokenError
from turnpoint.web.tokens import hash_token

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["TokenCache", "TokenInfo", "TokenStore", "hash_token", "new_token"]

TOKEN_PREFIX = "tp_"
WRITE_SCOPES = ("write:readings", "write:bars", "write:counts")
KNOWN_SCOPES = (*WRITE_SCOPES, "read")
DEFAULT_GRACE = dt.timedelta(hours=24)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")

# The secret presented matches the current hash, or the previous one while its grace period lasts.
_LOOKUP = """
SELECT id, name, scopes, expires_at, last_used_at,
       CASE WHEN token_hash = %(h)s THEN expires_at
            ELSE LEAST(previous_valid_until, expires_at) END AS valid_until,  -- LEAST skips NULLs
       token_hash <> %(h)s AS previous
FROM api_token
WHERE revoked_at IS NULL AND (token_hash = %(h)s OR previous_token_hash = %(h)s)
"""
_TOUCH = ("UPDATE api_token SET last_used_at = now() WHERE id = %s "
          "AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_duration(text: str) -> dt.timedelta:
    """`90d`, `12h`, `30m`, `2w`, `45s` as a timedelta (positive)."""
    m = _DURATION.match(text)
    if m is None or int(m.group(1)) == 0:
        msg = f"invalid duration {text!r}; write a positive number and a unit: 90d, 12h, 30m, 2w, 45s"
        raise TokenError(msg)
    return dt.timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


def parse_instant(text: str) -> dt.datetime:
    """An ISO date (midnight UTC) or date-time with an offset (`2027-03-01T09:00+09:00`, `...Z`)."""
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            return dt.datetime.combine(dt.date.fromisoformat(text.strip()), dt.time(), dt.UTC)
        value = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        msg = f"invalid time {text!r}; write an ISO date (2027-03-01) or date-time with offset (2027-03-01T09:00+09:00)"
        raise TokenError(msg) from None
    if value.tzinfo is None:
        msg = f"the time {text!r} has no offset; add one (Z, +09:00) so it means one instant"
        raise TokenError(msg)
    return value


def expiry(expires_in: str | None, expires_at: str | None, now: dt.datetime) -> dt.datetime | None:
    """The expiry `--expires-in`/`--expires-at` ask for (at most one of them), or None for no expiry."""
    if expires_in is not None and expires_at is not None:
        msg = "give --expires-in or --expires-at, not both"
        raise TokenError(msg)
    when = now + parse_duration(expires_in) if expires_in is not None else (
        parse_instant(expires_at) if expires_at is not None else None)
    if when is not None and when <= now:
        msg = f"the expiry {when.isoformat()} is not in the future"
        raise TokenError(msg)
    return when


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    scopes: tuple[str, ...]
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    last_used_at: dt.datetime | None = None
    rotated_at: dt.datetime | None = None
    previous_valid_until: dt.datetime | None = None
    # what a lookup knows about the secret presented: when it stops being valid, and whether it is the
    # previous (rotated-out) secret
    valid_until: dt.datetime | None = None
    previous: bool = False

    def expired(self, now: dt.datetime | None = None) -> bool:
        return self.valid_until is not None and self.valid_until <= (now or dt.datetime.now(dt.UTC))

    def expired_detail(self) -> str:
        """The 401 detail for an expired secret: which token, since when, and what to do."""
        when = self.valid_until.isoformat() if self.valid_until else "?"
        if self.previous:
            return (f"the token {self.name!r} was rotated and its previous secret expired at {when}; "
                    f"use the new secret")
        return (f"the token {self.name!r} expired at {when}; ask an operator for a new one "
                f"(`turnpoint ingest token rotate {self.name}`)")


def _row_info(row: tuple[Any, ...]) -> TokenInfo:
    return TokenInfo(row[0], row[1], tuple(row[2] or ()), expires_at=row[3], last_used_at=row[4],
                     valid_until=row[5], previous=bool(row[6]))


class TokenStore:
    """Create, rotate, revoke, list and look up tokens with psycopg (synchronous)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        return psycopg.connect(self.conninfo, autocommit=True, connect_timeout=10)

    def create(self, name: str, scopes: list[str], expires_at: dt.datetime | None = None) -> str:
        """Store a new token's hash; return the token (shown once, never stored)."""
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        if unknown or not scopes:
            msg = f"unknown or missing scopes {unknown or scopes}; use one or more of {', '.join(KNOWN_SCOPES)}"
            raise TokenError(msg)
        import psycopg

        token = new_token()
        try:
            with self._connect() as conn:
                conn.execute("INSERT INTO api_token (name, token_hash, scopes, expires_at) VALUES (%s, %s, %s, %s)",
                             (name, hash_token(token), scopes, expires_at))
        except psycopg.errors.UniqueViolation:
            msg = f"a token named {name!r} exists; revoke it or choose another name"
            raise TokenError(msg) from None
        return token

    def rotate(self, name: str, grace: dt.timedelta = DEFAULT_GRACE,
               expires_at: dt.datetime | None = None) -> str:
        """A new secret for `name`; the current one stays valid for `grace`. Returns the new secret.

        The new secret's expiry is `expires_at` when given, else the token keeps its lifetime: a token that
        lived N days from creation (or its last rotation) gets N days from now. A token without expiry keeps
        none.
        """
        token = new_token()
        with self._connect() as conn:
            row = conn.execute(
                """
                UPDATE api_token SET
                    previous_token_hash = token_hash,
                    previous_valid_until = now() + %(grace)s,
                    token_hash = %(h)s,
                    expires_at = COALESCE(%(exp)s, now() + (expires_at - COALESCE(rotated_at, created_at))),
                    rotated_at = now()
                WHERE name = %(name)s AND revoked_at IS NULL
                RETURNING id
                """,
                {"grace": grace, "h": hash_token(token), "exp": expires_at, "name": name},
            ).fetchone()
        if row is None:
            msg = f"no active token named {name!r}; see `turnpoint ingest token list`"
            raise TokenError(msg)
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
            rows = conn.execute(
                "SELECT id, name, scopes, created_at, revoked_at, expires_at, last_used_at, rotated_at, "
                "previous_valid_until FROM api_token ORDER BY name").fetchall()
        return [TokenInfo(r[0], r[1], tuple(r[2] or ()), r[3], r[4], r[5], r[6], r[7], r[8]) for r in rows]

    def lookup(self, token: str) -> TokenInfo | None:
        """The token the secret belongs to (expired or not: check `expired()`), or None; records the use."""
        with self._connect() as conn:
            row = conn.execute(_LOOKUP, {"h": hash_token(token)}).fetchone()
            info = _row_info(row) if row else None
            if info is not None and not info.expired():
                conn.execute(_TOUCH, (info.id,))
        return info


class TokenCache:
    """Verifies tokens against the database through a pool, caching answers (also misses) for `ttl` s.

    The answer says when the presented secret stops being valid; callers check `TokenInfo.expired()` on
    every request, so caching never extends a lifetime.
    """

    def __init__(self, pool: AsyncConnectionPool[Any], ttl: float = 5.0) -> None:
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
            cur = await conn.execute(_LOOKUP, {"h": digest})
            row = await cur.fetchone()
            info = _row_info(row) if row else None
            if info is not None and not info.expired():
                await conn.execute(_TOUCH, (info.id,))
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[digest] = (now, info)
        return info
