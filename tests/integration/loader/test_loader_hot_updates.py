"""Full re-upserts of price and rebound_leg are HOT updates (migration 0006): the table and its indexes keep
their size, because every new row version fits on its page and no index entry is added."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from loader_helpers import query  # type: ignore[import-not-found]

DAY0 = dt.date(2020, 1, 1)
N = 4_000


def _prices(bump: float) -> list[tuple[Any, ...]]:
    out = []
    for i in range(N):
        day = DAY0 + dt.timedelta(days=i % 400)
        c = 100.0 + i % 50 + bump
        out.append((f"S{i // 400:03d}", "day", day, day, c, c + 1, c - 1, c, 10.0 + bump, 1))
    return out


def _legs(bump: float) -> list[tuple[Any, ...]]:
    out = []
    for i in range(N):
        start = DAY0 + dt.timedelta(days=2 * (i % 400))
        a, b = 100.0 + bump, 110.0 + bump
        out.append((f"L{i // 400:03d}", "close", start, a, start + dt.timedelta(days=2), b, 2, b - a,
                    (b / a - 1) * 100, "up"))
    return out


def _sizes(url: str, table: str) -> dict[str, int]:
    """Pages of the table and of each of its indexes."""
    rows = query(url, "SELECT c.relname, pg_relation_size(c.oid) / 8192 FROM pg_class c "
                      "WHERE c.oid = %s::regclass OR c.oid IN (SELECT indexrelid FROM pg_index "
                      "WHERE indrelid = %s::regclass)", (table, table))
    return {str(name): int(pages) for name, pages in rows}


@pytest.mark.parametrize(("table", "make"), [("price", _prices), ("rebound_leg", _legs)])
def test_a_full_reupsert_is_hot(migrated_db: str, table: str, make: Any) -> None:
    from turnpoint.loader import tables as T
    from turnpoint.loader.postgres import PostgresSink

    spec = {"price": T.PRICE, "rebound_leg": T.REBOUND_LEG}[table]
    assert query(migrated_db, "SELECT reloptions FROM pg_class WHERE relname = %s", (table,))[0][0] == [
        "fillfactor=50"]
    for bump, direct_copy in ((0.0, True), (0.5, False)):  # a first load (plain COPY), then every row changed
        sink = PostgresSink(migrated_db, direct_copy=direct_copy)
        try:
            sink.begin()
            sink.upsert(spec, make(bump))
            sink.commit()
            assert sink.last_path[table] == ("copy" if direct_copy else "upsert")
        finally:
            sink.close()
        if direct_copy:
            loaded = _sizes(migrated_db, table)
    assert _sizes(migrated_db, table) == loaded  # no page and no index entry added
    value = {"price": "volume", "rebound_leg": "start_value"}[table]
    assert query(migrated_db, f'SELECT count(*) FROM "{table}" WHERE "{value}" IN (10.5, 100.5)')[0][0] == N
