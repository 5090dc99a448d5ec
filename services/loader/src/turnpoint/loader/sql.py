"""PostgreSQL statements of the bulk path, generated from the table specs (pure; validated in tests)."""

from __future__ import annotations

from turnpoint.loader.tables import TableSpec


def q(name: str) -> str:
    """A quoted identifier (several column names are keywords: end, start, interval, values, ...)."""
    return '"' + name.replace('"', '""') + '"'


def _list(names: tuple[str, ...] | list[str], prefix: str = "") -> str:
    return ", ".join(prefix + q(n) for n in names)


def stage_name(spec: TableSpec) -> str:
    return f"loader_stage_{spec.name}"


def create_stage(spec: TableSpec) -> str:
    """A temporary table with the written columns and no constraints; emptied at every commit."""
    cols = ", ".join(f"{q(c.name)} {c.pgtype}" for c in spec.columns)
    return f"CREATE TEMPORARY TABLE IF NOT EXISTS {q(stage_name(spec))} ({cols}) ON COMMIT DELETE ROWS"


def copy_into(table: str, spec: TableSpec) -> str:
    return f"COPY {q(table)} ({_list(spec.column_names)}) FROM STDIN (FORMAT BINARY)"


def upsert_from_stage(spec: TableSpec) -> str:
    """One INSERT … SELECT … ON CONFLICT DO UPDATE; unchanged rows are not rewritten (replays are free).

    With `spec.newer_only` (latest_bar's start), a row never replaces one with a greater value there.
    The rows go in key order: index probes and heap updates then walk the table instead of jumping around
    (measured: 10 µs instead of 15-17 µs per updated price row on the embedded PostgreSQL 16).
    """
    cols = spec.column_names
    values = spec.value_columns
    sets = ", ".join(f"{q(c)} = EXCLUDED.{q(c)}" for c in values)
    newer = f"t.{q(spec.newer_only)} <= EXCLUDED.{q(spec.newer_only)} AND " if spec.newer_only else ""
    return (
        f"INSERT INTO {q(spec.name)} AS t ({_list(cols)}) SELECT {_list(cols)} FROM {q(stage_name(spec))} "
        f"ORDER BY {_list(spec.key)} "
        f"ON CONFLICT ({_list(spec.key)}) DO UPDATE SET {sets}, {q('updated_at')} = now() "
        f"WHERE {newer}({_list(values, 't.')}) IS DISTINCT FROM ({_list(values, 'EXCLUDED.')})"
    )


def delete_keys(spec: TableSpec) -> str:
    """Delete by key with one array parameter per key column."""
    types = {c.name: c.pgtype for c in spec.columns}
    arrays = ", ".join(f"%s::{types[k]}[]" for k in spec.key)
    cond = " AND ".join(f"t.{q(k)} = k.{q(k)}" for k in spec.key)
    return f"DELETE FROM {q(spec.name)} AS t USING unnest({arrays}) AS k({_list(spec.key)}) WHERE {cond}"


def newest_by_series(spec: TableSpec) -> str:
    """The newest time stored per series (spec.horizon), for one text-array parameter of series; NULL for a
    series with nothing stored.

    One `max` per series, so that PostgreSQL reads the last entry of the (series, ts) key's index for each;
    `max ... GROUP BY series` read every stored row of the batch's series instead, on every flush (1,000,000
    readings of 20 series: 448 ms a flush against 2.9 ms).
    """
    assert spec.horizon is not None
    series, ts = (q(c) for c in spec.horizon)
    return (f"SELECT s.series, (SELECT max(t.{ts}) FROM {q(spec.name)} t WHERE t.{series} = s.series) "
            "FROM unnest(%s::text[]) AS s(series)")


RECORD_JOBS = (
    'INSERT INTO "job_info" AS t ("job", "status", "last_success", "rows", "detail") '
    "SELECT j, 'ok', now(), n, 'rows written by the loader' FROM unnest(%s::text[], %s::int8[]) AS x(j, n) "
    'ON CONFLICT ("job") DO UPDATE SET "status" = \'ok\', "last_success" = now(), '
    '"rows" = t."rows" + EXCLUDED."rows", "detail" = EXCLUDED."detail", "updated_at" = now()'
)
