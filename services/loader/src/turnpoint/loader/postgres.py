"""The PostgreSQL sink (psycopg 3): binary COPY into a temporary table, then one INSERT … ON CONFLICT.

First loads take a faster road when they can: a plain binary COPY straight into the target table, in a
savepoint. If any key already exists the COPY fails with a unique violation, the savepoint is rolled
back and the batch takes the upsert road; that table then stays on the upsert road for
`cooldown` flushes before trying again, so steady-state updates do not pay for failed attempts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from turnpoint.core.observability import get_logger
from turnpoint.loader import sql
from turnpoint.loader.errors import DatabaseUnavailable, RowRejected
from turnpoint.loader.tables import Row, TableSpec

log = get_logger(__name__)

_RETRYABLE = (psycopg.OperationalError, psycopg.InterfaceError)
_ROW_ERRORS = (psycopg.IntegrityError, psycopg.DataError)
_SCHEMA_ERRORS = (pg_errors.UndefinedTable, pg_errors.UndefinedColumn)


class PostgresSink:
    def __init__(
        self, conninfo: str, *, direct_copy: bool = True, cooldown: int = 50, connect_timeout: int = 5,
    ) -> None:
        self._conninfo = conninfo
        self._direct_copy = direct_copy
        self._cooldown_flushes = cooldown
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._staged: set[str] = set()  # stage tables created on this connection
        self._dirty: set[str] = set()  # stage tables holding rows in this transaction
        self._cooldown: dict[str, int] = {}
        self._savepoints = 0
        self.last_path: dict[str, str] = {}  # table -> "copy" | "upsert", for metrics and tests

    # -- connection and transaction -------------------------------------------------------------
    def begin(self) -> None:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self._conninfo, autocommit=False, connect_timeout=self._connect_timeout,
                    application_name="turnpoint-loader",
                )
            except psycopg.OperationalError as exc:
                msg = f"cannot connect to PostgreSQL: {_first_line(exc)}"
                raise DatabaseUnavailable(msg) from exc
            with self._translate():
                # the upsert sorts a flush's staged rows by key: keep that sort in memory
                self._conn.execute("SET work_mem = '64MB'")
                self._conn.commit()
            self._staged.clear()
        self._dirty.clear()
        for name in list(self._cooldown):
            self._cooldown[name] -= 1
            if self._cooldown[name] <= 0:
                del self._cooldown[name]

    @property
    def conn(self) -> psycopg.Connection[Any]:
        if self._conn is None:
            msg = "the sink has no connection: call begin() first"
            raise DatabaseUnavailable(msg)
        return self._conn

    def commit(self) -> None:
        with self._translate():
            self.conn.commit()

    def reset(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self.reset()

    def ping(self) -> bool:
        try:
            with psycopg.connect(self._conninfo, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        """Map psycopg errors onto the loader's: rejected rows, or an unavailable database."""
        try:
            yield
        except _ROW_ERRORS as exc:
            raise RowRejected(exc.sqlstate, _first_line(exc)) from exc
        except _SCHEMA_ERRORS as exc:
            msg = f"the schema is missing or old ({_first_line(exc)}); run `turnpoint loader migrate`"
            raise DatabaseUnavailable(msg) from exc
        except _RETRYABLE as exc:
            self.reset()
            msg = f"PostgreSQL failed: {_first_line(exc)}"
            raise DatabaseUnavailable(msg) from exc

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[None]:
        """A savepoint around a write: a failure rolls back only that write (then is re-raised)."""
        self._savepoints += 1
        name = f"loader_sp{self._savepoints}"
        conn = self.conn
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self._staged.clear()  # a stage table created under this savepoint is gone; recreate lazily
            if not conn.closed and not conn.broken:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            raise
        finally:
            self._savepoints -= 1
        conn.execute(f"RELEASE SAVEPOINT {name}")

    # -- writes ---------------------------------------------------------------------------------
    def upsert(self, spec: TableSpec, rows: Sequence[Row]) -> None:
        if not rows:
            return
        with self._translate():
            if self._direct_copy and spec.direct_copy and spec.name not in self._cooldown:
                try:
                    with self._savepoint():
                        self._copy(spec.name, spec, rows)
                    self.last_path[spec.name] = "copy"
                    return
                except pg_errors.UniqueViolation:
                    self._cooldown[spec.name] = self._cooldown_flushes
                except _ROW_ERRORS:
                    pass  # the upsert road reports it, and `isolate` finds the row
            with self._savepoint():
                self._stage(spec, rows)
                self.conn.execute(sql.upsert_from_stage(spec))
            self.last_path[spec.name] = "upsert"

    def delete(self, spec: TableSpec, keys: Sequence[tuple[Any, ...]]) -> None:
        if not keys:
            return
        columns = [list(col) for col in zip(*keys, strict=True)]
        with self._translate(), self._savepoint():
            self.conn.execute(sql.delete_keys(spec), columns)

    def newest(self, spec: TableSpec, series: Sequence[str]) -> dict[str, dt.datetime]:
        if not series:
            return {}
        with self._translate():
            rows = self.conn.execute(sql.newest_by_series(spec), (list(series),)).fetchall()
        return {s: ts for s, ts in rows if ts is not None}

    def record_jobs(self, written: Mapping[str, int]) -> None:
        if not written:
            return
        jobs = [f"loader.{t}" for t in written]
        with self._translate():
            self.conn.execute(sql.RECORD_JOBS, (jobs, list(written.values())))

    def _stage(self, spec: TableSpec, rows: Sequence[Row]) -> None:
        conn = self.conn
        stage = sql.stage_name(spec)
        if stage not in self._staged:
            conn.execute(sql.create_stage(spec))
            self._staged.add(stage)
        if stage in self._dirty:
            conn.execute(f"TRUNCATE {sql.q(stage)}")
        self._dirty.add(stage)
        self._copy(stage, spec, rows)

    def _copy(self, table: str, spec: TableSpec, rows: Sequence[Row]) -> None:
        with self.conn.cursor() as cur, cur.copy(sql.copy_into(table, spec)) as copy:
            copy.set_types([c.pgtype for c in spec.columns])
            write = copy.write_row
            for row in rows:
                write(row)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
