"""The asyncpg connection pool and the few helpers every query uses.

asyncpg rather than psycopg's async pool: it speaks the binary protocol, caches prepared statements per
connection and decodes rows in C, which is most of the per-request cost of a read API like this one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
from psycopg.conninfo import conninfo_to_dict

from turnpoint.api.errors import DatabaseUnavailable, InvalidParameter

_UNAVAILABLE = (
    OSError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.InterfaceError,
    TimeoutError,
)


def connect_kwargs(dsn: str) -> dict[str, Any]:
    """asyncpg keyword arguments from a libpq URL or `key=value` string (asyncpg parses only URLs)."""
    params = conninfo_to_dict(dsn)
    mapping = {"host": "host", "port": "port", "user": "user", "password": "password", "dbname": "database"}
    kwargs: dict[str, Any] = {ours: params[theirs] for theirs, ours in mapping.items() if params.get(theirs)}
    if "port" in kwargs:
        kwargs["port"] = int(kwargs["port"])
    return kwargs


# Every statement is prepared once per connection and kept: the symbols list alone has a few hundred
# variants (sort x order x filters x cursor), more than asyncpg's default cache of 100.
STATEMENT_CACHE_SIZE = 1024


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Pool release hook: nothing to undo, so no reset query (asyncpg's default costs a round trip per request).

    The API never changes session state (no SET, LISTEN, advisory locks, cursors or temporary tables); an open
    transaction is still rolled back by asyncpg before this hook runs.
    """


async def create_pool(dsn: str, min_size: int, max_size: int, statement_timeout_ms: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        **connect_kwargs(dsn),
        min_size=min_size,
        max_size=max_size,
        timeout=5,
        command_timeout=statement_timeout_ms / 1000 + 1,
        statement_cache_size=STATEMENT_CACHE_SIZE,
        max_cached_statement_lifetime=0,
        reset=_keep_session,
        server_settings={
            "application_name": "turnpoint-api",
            "statement_timeout": str(statement_timeout_ms),
            "TimeZone": "UTC",
            "default_transaction_read_only": "on",
        },
    )


class Database:
    """A thin wrapper over the pool that turns connection trouble into `DatabaseUnavailable` (503)."""

    def __init__(self, dsn: str, min_size: int, max_size: int, statement_timeout_ms: int) -> None:
        self._dsn = dsn
        self._min, self._max, self._timeout = min_size, max_size, statement_timeout_ms
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        with contextlib.suppress(*_UNAVAILABLE):  # start even when the database is down; /readyz says so
            self._pool = await create_pool(self._dsn, self._min, self._max, self._timeout)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _ensure(self) -> asyncpg.Pool:
        if self._pool is None:
            try:
                self._pool = await create_pool(self._dsn, self._min, self._max, self._timeout)
            except _UNAVAILABLE as exc:
                msg = "the database did not answer; retry shortly (GET /readyz shows when it is back)"
                raise DatabaseUnavailable(msg) from exc
        return self._pool

    @contextlib.asynccontextmanager
    async def _translate(self) -> AsyncIterator[None]:
        try:
            yield
        except _UNAVAILABLE as exc:
            msg = "the database did not answer in time; retry shortly"
            raise DatabaseUnavailable(msg) from exc
        except asyncpg.exceptions.DataError as exc:  # SQLSTATE class 22: a value PostgreSQL cannot take
            field, detail = "parameter", f"a value was refused by the database: {exc}"
            raise InvalidParameter(field, detail) from exc

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        pool = await self._ensure()
        async with self._translate():
            rows: list[asyncpg.Record] = await pool.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        pool = await self._ensure()
        async with self._translate():
            return await pool.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        pool = await self._ensure()
        async with self._translate():
            return await pool.fetchval(sql, *args)

    async def ping(self) -> tuple[bool, dict[str, Any]]:
        try:
            await self.fetchval("SELECT 1")
        except DatabaseUnavailable as exc:
            return False, {"database": "unavailable", "detail": str(exc)}
        return True, {"database": "ok", "pool": self.pool_stats()}

    def pool_stats(self) -> dict[str, int]:
        if self._pool is None:
            return {"size": 0, "idle": 0}
        return {"size": self._pool.get_size(), "idle": self._pool.get_idle_size()}


def records(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]
