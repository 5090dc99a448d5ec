"""The ODBC sink (pyodbc): MERGE statements with `fast_executemany`, for Tibero/Oracle drivers.

No Tibero server exists where this was written: the Oracle statements are validated with sqlglot's
Oracle dialect, and this very code path runs in the tests against PostgreSQL through psqlODBC with the
PostgreSQL dialect (MERGE needs PostgreSQL 15+). See docs/loader.md for what that does and does not prove.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from turnpoint.loader import merge
from turnpoint.loader.errors import ConfigurationError, DatabaseUnavailable, RowRejected
from turnpoint.loader.tables import Row, TableSpec

_ROW_STATES = ("22", "23")
_IN_LIST = 500  # series per IN list (Oracle allows 1,000 expressions in one)
_CONNECTION_STATES = ("08", "HYT", "57")


class OdbcSink:
    def __init__(self, connection_string: str, *, dialect: str = "oracle", login_timeout: int = 5) -> None:
        if dialect not in merge.DIALECTS:
            msg = f"unknown ODBC dialect {dialect!r}; use one of {', '.join(merge.DIALECTS)}"
            raise ConfigurationError(msg)
        self._cs = connection_string
        self._d = merge.DIALECTS[dialect]
        self._timeout = login_timeout
        self._conn: Any = None
        self._sql: dict[tuple[str, str], str] = {}
        self._adapters: dict[str, Any] = {}
        self._savepoints = 0

    def _connect(self) -> Any:
        import pyodbc

        try:
            return pyodbc.connect(self._cs, autocommit=False, timeout=self._timeout)
        except pyodbc.Error as exc:
            msg = f"cannot connect through ODBC: {_describe(exc)}"
            raise DatabaseUnavailable(msg) from exc

    def begin(self) -> None:
        if self._conn is None:
            self._conn = self._connect()

    def commit(self) -> None:
        with self._translate():
            self._conn.commit()

    def reset(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self.reset()

    def ping(self) -> bool:
        try:
            conn = self._connect()
        except DatabaseUnavailable:
            return False
        conn.close()
        return True

    @contextlib.contextmanager
    def _translate(self) -> Iterator[None]:
        import pyodbc

        try:
            yield
        except pyodbc.Error as exc:
            state = str(exc.args[0]) if exc.args else ""
            if state.startswith(_ROW_STATES):
                raise RowRejected(state, _describe(exc)) from exc
            if state.startswith(_CONNECTION_STATES) or isinstance(exc, pyodbc.OperationalError):
                self.reset()
                msg = f"the database connection failed: {_describe(exc)}"
                raise DatabaseUnavailable(msg) from exc
            raise

    @contextlib.contextmanager
    def _savepoint(self) -> Iterator[Any]:
        self._savepoints += 1
        name = f"loader_sp{self._savepoints}"
        cur = self._conn.cursor()
        try:
            cur.execute(f"SAVEPOINT {name}")
            try:
                yield cur
            except BaseException:
                with contextlib.suppress(Exception):
                    cur.execute(f"ROLLBACK TO SAVEPOINT {name}")
                raise
            if self._d.release_savepoints:
                cur.execute(f"RELEASE SAVEPOINT {name}")
        finally:
            self._savepoints -= 1
            cur.close()

    def _statement(self, kind: str, spec: TableSpec) -> str:
        key = (kind, spec.name)
        if key not in self._sql:
            build = merge.merge_upsert if kind == "upsert" else merge.delete_by_key
            self._sql[key] = build(spec, self._d)
        return self._sql[key]

    def upsert(self, spec: TableSpec, rows: Sequence[Row]) -> None:
        if not rows:
            return
        adapt = self._adapters.get(spec.name)
        if adapt is None:
            adapt = self._adapters[spec.name] = self._d.adapt(spec)
        params = [adapt(r) for r in rows]
        with self._translate(), self._savepoint() as cur:
            cur.fast_executemany = True
            cur.executemany(self._statement("upsert", spec), params)

    def delete(self, spec: TableSpec, keys: Sequence[tuple[Any, ...]]) -> None:
        if not keys:
            return
        with self._translate(), self._savepoint() as cur:
            cur.fast_executemany = True
            cur.executemany(self._statement("delete", spec), [tuple(k) for k in keys])

    def newest(self, spec: TableSpec, series: Sequence[str]) -> dict[str, dt.datetime]:
        out: dict[str, dt.datetime] = {}
        with self._translate(), self._savepoint() as cur:
            for i in range(0, len(series), _IN_LIST):
                chunk = list(series[i:i + _IN_LIST])
                cur.execute(merge.newest_by_series(spec, self._d, len(chunk)), chunk)
                for name, ts in cur.fetchall():  # naive UTC (pyodbc drops time zones)
                    out[name] = ts.replace(tzinfo=dt.UTC)
        return out

    def record_jobs(self, written: Mapping[str, int]) -> None:
        if not written:
            return
        with self._translate(), self._savepoint() as cur:
            cur.executemany(merge.record_jobs(self._d), [(f"loader.{t}", n) for t, n in written.items()])


def _describe(exc: BaseException) -> str:
    args: tuple[object, ...] = getattr(exc, "args", ())
    text = str(args[1]) if len(args) > 1 else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
