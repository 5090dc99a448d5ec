"""The newest stored reading per series, which every flush of readings asks for (SPEC 2's lateness): the right
answer, and read from the end of each series' index instead of from every row the series has stored (issue
#17: with `max ... GROUP BY series` a flush read all the batch's series' rows, 448 ms at 1,000,000 rows)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg

from turnpoint.loader import sql
from turnpoint.loader.postgres import PostgresSink
from turnpoint.loader.tables import TABLES

READING = next(t for t in TABLES if t.name == "reading")
ROWS = 3_000


def _fill(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for series in ("n/a", "n/b"):
            conn.execute(
                "INSERT INTO reading (series, ts, value) SELECT %s, timestamptz '2026-01-01 00:00:00+00' "
                "+ g * interval '1 second', g FROM generate_series(1, %s::int) g", (series, ROWS))
        conn.execute("ANALYZE reading")


def _rows_scanned(plan: dict[str, Any]) -> int:
    """Rows the plan's scans of `reading` returned, over all their loops."""
    own = plan["Actual Rows"] * plan["Actual Loops"] if plan.get("Relation Name") == "reading" else 0
    return int(own) + sum(_rows_scanned(p) for p in plan.get("Plans", []))


def test_newest_is_the_last_reading_of_each_stored_series_and_nothing_for_the_others(migrated_db: str) -> None:
    _fill(migrated_db)
    sink = PostgresSink(migrated_db)
    try:
        sink.begin()
        newest = sink.newest(READING, ["n/a", "n/b", "n/never"])
        sink.commit()
    finally:
        sink.close()
    last = dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=ROWS)
    assert newest == {"n/a": last, "n/b": last}


def test_newest_reads_one_index_entry_per_series_not_every_row(migrated_db: str) -> None:
    _fill(migrated_db)
    with psycopg.connect(migrated_db) as conn:
        text = sql.newest_by_series(READING)
        (doc,) = conn.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {text}", (["n/a", "n/b"],)).fetchone()  # type: ignore[misc]
    plan = (doc if isinstance(doc, list) else json.loads(doc))[0]["Plan"]
    # the GROUP BY form read all 6,000 rows; one max per series reads one index entry each
    assert _rows_scanned(plan) <= 2, json.dumps(plan, indent=1)
