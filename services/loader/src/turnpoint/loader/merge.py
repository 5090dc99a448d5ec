"""MERGE statements for the ODBC sink, in the Tibero/Oracle dialect (and PostgreSQL 15+ for psqlODBC tests).

    MERGE INTO "PRICE" t
    USING (SELECT CAST(? AS VARCHAR2(4000)) AS "SYMBOL", … FROM dual) s
    ON (t."SYMBOL" = s."SYMBOL" AND …)
    WHEN MATCHED THEN UPDATE SET t."CLOSE" = s."CLOSE", …, t."UPDATED_AT" = CURRENT_TIMESTAMP
    WHEN NOT MATCHED THEN INSERT ("SYMBOL", …, "UPDATED_AT") VALUES (s."SYMBOL", …, CURRENT_TIMESTAMP)

One statement per row, sent with pyodbc's `fast_executemany` (parameter arrays: one round trip per
batch). Identifiers are quoted: several columns are keywords (START, END, INTERVAL, VALUES, ROWS). In
Oracle they are upper-cased, which is how a table created with unquoted names stores them.
Timestamps travel as naive UTC and are converted in SQL (pyodbc drops time zones); arrays, which
Oracle lacks, travel as JSON text for Oracle and as array literals for PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from turnpoint.loader.tables import Column, Row, TableSpec


def _utc_naive(v: dt.datetime | None) -> dt.datetime | None:
    return None if v is None else v.astimezone(dt.UTC).replace(tzinfo=None)


def _pg_array(v: list[Any]) -> str:
    return "{" + ",".join(orjson.dumps(x).decode() for x in v) + "}"


def _json(v: list[Any]) -> str:
    return orjson.dumps(v).decode()


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    types: dict[str, str]
    from_dual: str
    qualify_set: bool  # Oracle writes `SET t.col = …`; PostgreSQL forbids the qualifier
    release_savepoints: bool  # Oracle has no RELEASE SAVEPOINT
    upper: bool
    array_param: Callable[[list[Any]], str]

    def ident(self, name: str) -> str:
        return '"' + (name.upper() if self.upper else name).replace('"', '""') + '"'

    def param(self, column: Column) -> str:
        if column.pgtype == "timestamptz":
            return "FROM_TZ(CAST(? AS TIMESTAMP), 'UTC')" if self.upper else "(CAST(? AS timestamp) AT TIME ZONE 'UTC')"
        return f"CAST(? AS {self.types[column.pgtype]})"

    def adapt(self, spec: TableSpec) -> Callable[[Row], tuple[Any, ...]]:
        """Row -> ODBC parameters (timestamps to naive UTC, arrays to text)."""
        fixes = [
            (i, _utc_naive if c.pgtype == "timestamptz" else self.array_param)
            for i, c in enumerate(spec.columns)
            if c.pgtype == "timestamptz" or c.pgtype.endswith("[]")
        ]
        if not fixes:
            return tuple

        def adapt(row: Row) -> tuple[Any, ...]:
            out = list(row)
            for i, f in fixes:
                out[i] = f(out[i])
            return tuple(out)

        return adapt


ORACLE = Dialect(
    name="oracle",
    types={
        "text": "VARCHAR2(4000)", "date": "DATE", "float8": "BINARY_DOUBLE", "int2": "NUMBER(5)",
        "int4": "NUMBER(10)", "int8": "NUMBER(19)", "text[]": "VARCHAR2(4000)", "float8[]": "CLOB",
    },
    from_dual=" FROM dual", qualify_set=True, release_savepoints=False, upper=True, array_param=_json,
)
POSTGRES = Dialect(
    name="postgres",
    types={
        "text": "text", "date": "date", "float8": "double precision", "int2": "smallint", "int4": "integer",
        "int8": "bigint", "text[]": "text[]", "float8[]": "double precision[]",
    },
    from_dual="", qualify_set=False, release_savepoints=True, upper=False, array_param=_pg_array,
)
DIALECTS = {d.name: d for d in (ORACLE, POSTGRES)}


def merge_upsert(spec: TableSpec, d: Dialect) -> str:
    i = d.ident
    select = ", ".join(f"{d.param(c)} AS {i(c.name)}" for c in spec.columns)
    on = " AND ".join(f"t.{i(k)} = s.{i(k)}" for k in spec.key)
    target = (lambda n: f"t.{i(n)}") if d.qualify_set else i
    sets = ", ".join(f"{target(c)} = s.{i(c)}" for c in spec.value_columns)
    cols = ", ".join(i(c) for c in spec.column_names)
    vals = ", ".join(f"s.{i(c)}" for c in spec.column_names)
    matched, where = "WHEN MATCHED", ""
    if spec.newer_only:  # Oracle: UPDATE … WHERE cond; PostgreSQL: WHEN MATCHED AND cond
        cond = f"t.{i(spec.newer_only)} <= s.{i(spec.newer_only)}"
        matched, where = (matched, f" WHERE {cond}") if d.upper else (f"{matched} AND {cond}", "")
    return (
        f"MERGE INTO {i(spec.name)} t USING (SELECT {select}{d.from_dual}) s ON ({on}) "
        f"{matched} THEN UPDATE SET {sets}, {target('updated_at')} = CURRENT_TIMESTAMP{where} "
        f"WHEN NOT MATCHED THEN INSERT ({cols}, {i('updated_at')}) VALUES ({vals}, CURRENT_TIMESTAMP)"
    )


def delete_by_key(spec: TableSpec, d: Dialect) -> str:
    columns = {c.name: c for c in spec.columns}
    cond = " AND ".join(f"{d.ident(k)} = {d.param(columns[k])}" for k in spec.key)
    return f"DELETE FROM {d.ident(spec.name)} WHERE {cond}"


def newest_by_series(spec: TableSpec, d: Dialect, count: int) -> str:
    """The newest time stored per series (spec.horizon) for `count` series parameters, as naive UTC."""
    assert spec.horizon is not None
    series, ts = (d.ident(c) for c in spec.horizon)
    utc = (f"SYS_EXTRACT_UTC(CAST(MAX({ts}) AS TIMESTAMP WITH TIME ZONE))" if d.upper
           else f"(MAX({ts}) AT TIME ZONE 'UTC')")
    marks = ", ".join("?" * count)
    return f"SELECT {series}, {utc} FROM {d.ident(spec.name)} WHERE {series} IN ({marks}) GROUP BY {series}"


def record_jobs(d: Dialect) -> str:
    i = d.ident
    target = (lambda n: f"t.{i(n)}") if d.qualify_set else i
    return (
        f"MERGE INTO {i('job_info')} t USING (SELECT CAST(? AS {d.types['text']}) AS {i('job')}, "
        f"CAST(? AS {d.types['int8']}) AS {i('rows')}{d.from_dual}) s ON (t.{i('job')} = s.{i('job')}) "
        f"WHEN MATCHED THEN UPDATE SET {target('status')} = 'ok', {target('last_success')} = CURRENT_TIMESTAMP, "
        f"{target('rows')} = t.{i('rows')} + s.{i('rows')}, {target('updated_at')} = CURRENT_TIMESTAMP "
        f"WHEN NOT MATCHED THEN INSERT ({i('job')}, {i('status')}, {i('last_success')}, {i('rows')}, "
        f"{i('detail')}, {i('updated_at')}) VALUES (s.{i('job')}, 'ok', CURRENT_TIMESTAMP, s.{i('rows')}, "
        "'rows written by the loader', CURRENT_TIMESTAMP)"
    )


def statements(d: Dialect, tables: tuple[TableSpec, ...]) -> dict[str, str]:
    """Every statement the ODBC sink can send in dialect `d`, by a readable name (for validation)."""
    out = {f"upsert {t.name}": merge_upsert(t, d) for t in tables}
    out.update({f"delete {t.name}": delete_by_key(t, d) for t in tables if t.is_delete is not None})
    out.update({f"newest {t.name}": newest_by_series(t, d, 3) for t in tables if t.horizon is not None})
    out["record jobs"] = record_jobs(d)
    return out
