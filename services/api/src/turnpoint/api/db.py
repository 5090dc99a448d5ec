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

    The API changes one session setting, `plan_cache_mode`, and `PlanConnection` tracks it per connection
    (a reset would undo it behind the tracker's back); otherwise no SET, LISTEN, advisory locks, cursors or
    temporary tables. An open transaction is still rolled back by asyncpg before this hook runs.
    """


class PlanConnection(asyncpg.Connection):  # type: ignore[misc]  # asyncpg ships no types: Connection is Any
    """A connection that knows its `plan_cache_mode`, so a statement can ask for PostgreSQL's generic plan.

    A prepared statement is re-planned for its parameters on every execution unless PostgreSQL judges the
    generic plan cheaper, which it never did for the keyset pages of this API (a LIMIT or a range whose
    size the generic plan cannot know). For those statements the plan is the same for any parameters (an
    ordered index scan from the cursor, stopped by the LIMIT), and planning was half of the database's CPU
    for a symbols page (docs/api.md). Statements whose best plan depends on the values (text search, the
    symbols-without-a-value tails, sorts by a latest-bar column) keep `auto`. The SET costs one round trip,
    paid only when a connection's previous statement wanted the other mode.
    """

    _generic = False  # the server's default, `auto`; set per instance when it changes

    async def fetch_planned(self, generic: bool, sql: str, *args: Any) -> list[asyncpg.Record]:
        if generic is not self._generic:
            await self.execute(_PLAN_MODES[generic])
            self._generic = generic
        rows: list[asyncpg.Record] = await self.fetch(sql, *args)
        return rows


_PLAN_MODES = {True: "SET plan_cache_mode = force_generic_plan", False: "SET plan_cache_mode = auto"}


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
        connection_class=PlanConnection,
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

    async def fetch(self, sql: str, *args: Any, generic: bool = False) -> list[asyncpg.Record]:
        """`generic=True` for a statement whose plan is the same for any parameters (see `PlanConnection`)."""
        pool = await self._ensure()
        async with self._translate(), pool.acquire() as connection:
            rows: list[asyncpg.Record] = await connection.fetch_planned(generic, sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any, generic: bool = False) -> asyncpg.Record | None:
        rows = await self.fetch(sql, *args, generic=generic)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any, generic: bool = False) -> Any:
        rows = await self.fetch(sql, *args, generic=generic)
        return rows[0][0] if rows else None

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
