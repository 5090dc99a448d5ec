"""The symbol's market kept on its rebound states (migration 0007), and the symbols list's market filter
that relies on it: the copy follows every write of either table, and market + direction + pct range is one
index range."""

from __future__ import annotations

import re
from typing import Any

import httpx
import psycopg
import pytest

from turnpoint.api.symbol_list import SymbolFilter, build

pytestmark = pytest.mark.timeout(60)

STATE_COLUMNS = ("symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date, extreme_value, "
                 "last_date, last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme")


def _upsert_state(conn: psycopg.Connection[Any], symbol: str, gtype: str, pct: float) -> None:
    """The loader's statement shape: INSERT ... ON CONFLICT DO UPDATE of the state's own columns."""
    conn.execute(
        f"INSERT INTO rebound_state ({STATE_COLUMNS}) VALUES (%s, %s, 0, 'up', '2024-01-01', 100, '2024-01-02', 110,"
        " '2024-01-03', 105, 2, %s, -4.5) ON CONFLICT (symbol, gtype) DO UPDATE SET"
        " pct_from_pivot = EXCLUDED.pct_from_pivot, updated_at = now()", (symbol, gtype, pct))


def _markets(conn: psycopg.Connection[Any], symbol: str) -> dict[str, str | None]:
    return dict(conn.execute("SELECT gtype, market FROM rebound_state WHERE symbol = %s", (symbol,)).fetchall())


def test_a_state_carries_its_symbols_market_through_every_write(seeded_url: str) -> None:
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        _upsert_state(conn, "NEWCO", "close", 5.0)
        assert _markets(conn, "NEWCO") == {"close": None}, "no symbol row yet: no market"
        conn.execute("INSERT INTO symbol (symbol, name, market) VALUES ('NEWCO', 'New Co', 'KOSDAQ')")
        assert _markets(conn, "NEWCO") == {"close": "KOSDAQ"}, "the symbol row passes its market on"
        _upsert_state(conn, "NEWCO", "open", 1.0)
        _upsert_state(conn, "NEWCO", "close", 6.0)
        assert _markets(conn, "NEWCO") == {"close": "KOSDAQ", "open": "KOSDAQ"}
        conn.execute("UPDATE symbol SET market = 'KONEX' WHERE symbol = 'NEWCO'")
        assert _markets(conn, "NEWCO") == {"close": "KONEX", "open": "KONEX"}
        # a state written concurrently with its symbol's first row saw no market; its next upsert repairs it
        conn.execute("ALTER TABLE rebound_state DISABLE TRIGGER rebound_state_take_market")
        try:
            conn.execute("UPDATE rebound_state SET market = NULL WHERE symbol = 'NEWCO' AND gtype = 'open'")
        finally:
            conn.execute("ALTER TABLE rebound_state ENABLE TRIGGER rebound_state_take_market")
        _upsert_state(conn, "NEWCO", "open", 2.0)
        assert _markets(conn, "NEWCO") == {"close": "KONEX", "open": "KONEX"}
        conn.execute("DELETE FROM symbol WHERE symbol = 'NEWCO'")
        assert _markets(conn, "NEWCO") == {"close": None, "open": None}
        conn.execute("DELETE FROM rebound_state WHERE symbol = 'NEWCO'")


@pytest.mark.asyncio(loop_scope="session")
async def test_the_market_filter_follows_a_change_of_market(seeded_url: str, client: httpx.AsyncClient) -> None:
    async def listed(market: str) -> list[str]:
        r = await client.get("/v1/symbols", params={"market": market, "direction": "down", "sort": "pct_from_pivot"})
        assert r.status_code == 200, r.text
        return [row["symbol"] for row in r.json()["items"]]

    assert await listed("KOSPI") == ["BBB"]  # api_seed: BBB is KOSPI and its states go down
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("UPDATE symbol SET market = 'KONEX' WHERE symbol = 'BBB'")
        try:
            assert await listed("KOSPI") == []
            assert await listed("KONEX") == ["BBB"]
        finally:
            conn.execute("UPDATE symbol SET market = 'KOSPI' WHERE symbol = 'BBB'")
    assert await listed("KOSPI") == ["BBB"]


def test_market_direction_and_pct_range_are_one_index_range(seeded_url: str) -> None:
    f = SymbolFilter(market="KOSPI", direction="down", min_pct=-10, max_pct=10, sort="pct_from_pivot", order="desc")
    sql, args = build(f, 50, None)
    with psycopg.connect(seeded_url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # the seed is tiny: ask which index can serve the filter
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + re.sub(r"\$\d+", "%s", sql), args))
    conds = [line for line in plan.splitlines() if "Index Cond" in line and "pct_from_pivot" in line]
    assert conds, plan
    assert "market" in conds[0] and "direction" in conds[0], plan
    assert "Join Filter" not in plan and "Filter: (s.market" not in plan, plan
