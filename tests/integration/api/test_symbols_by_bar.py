"""The symbols list sorted by a latest-bar column (latest_bar, migration 0003): keyset pages in both directions
over distinct values and ties, filters, and symbols without a bar last (a second statement)."""

from __future__ import annotations

import datetime as dt
import random

import httpx
import psycopg
import pytest
from integration.api.api_seed import SYMBOLS

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

DAY = dt.date(2024, 6, 3)


@pytest.fixture(scope="module")
def bars(seeded_url: str) -> dict[str, tuple[float, float, str]]:
    """30 more symbols in this module's database: symbol -> (close, volume, market); some volumes tie, and
    five symbols have no latest bar."""
    rng = random.Random(7)
    out: dict[str, tuple[float, float, str]] = {}
    with psycopg.connect(seeded_url) as conn:
        for i in range(30):
            sym = f"X{i:02d}"
            market = "KOSPI" if i % 3 else "KOSDAQ"
            conn.execute("INSERT INTO symbol (symbol, name, market) VALUES (%s, %s, %s)", (sym, f"{sym} Inc", market))
            if i >= 25:
                continue
            close, volume = round(rng.uniform(1, 500), 2), float(rng.choice((10, 20, 30)))
            conn.execute("INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)"
                         " VALUES (%s, %s, %s, %s, %s, %s, %s)", (sym, DAY, close, close + 1, close - 1, close, volume))
            out[sym] = (close, volume, market)
        for sym, close, volume in conn.execute(
                "SELECT s.symbol, b.close, b.volume FROM symbol s JOIN latest_bar b USING (symbol)"
                " WHERE s.symbol = ANY(%s)", (list(SYMBOLS),)).fetchall():
            out[sym] = (close, volume, conn.execute("SELECT market FROM symbol WHERE symbol = %s",
                                                    (sym,)).fetchone()[0])  # type: ignore[index]
    return out


def _no_bar(seeded_url: str, market: str | None = None) -> list[str]:
    with psycopg.connect(seeded_url) as conn:
        rows = conn.execute("SELECT symbol FROM symbol s WHERE NOT EXISTS (SELECT 1 FROM latest_bar b WHERE"
                            " b.symbol = s.symbol) AND (%s::text IS NULL OR market = %s) ORDER BY symbol",
                            (market, market)).fetchall()
    return [r[0] for r in rows]


async def _pages(client: httpx.AsyncClient, **params: object) -> list[dict[str, object]]:
    seen: list[dict[str, object]] = []
    cursor = None
    for _ in range(100):
        r = await client.get("/v1/symbols", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen
    msg = "pagination did not end"
    raise AssertionError(msg)


@pytest.mark.parametrize("column", ["close", "volume"])
@pytest.mark.parametrize("limit", [1, 4, 7, 1000])
async def test_bar_sort_pages_in_value_then_symbol_order_with_symbols_without_bars_last(
        client: httpx.AsyncClient, seeded_url: str, bars: dict[str, tuple[float, float, str]], column: str,
        limit: int) -> None:
    value = (lambda s: bars[s][0]) if column == "close" else (lambda s: bars[s][1])
    expected = sorted(bars, key=lambda s: (value(s), s))
    asc = await _pages(client, sort=column, limit=limit)
    assert [r["symbol"] for r in asc] == [*expected, *_no_bar(seeded_url)]
    assert all(r["bar"] is not None and r["bar"][column] == value(r["symbol"]) for r in asc[:len(expected)])
    assert all(r["bar"] is None for r in asc[len(expected):])
    desc = await _pages(client, sort=column, order="desc", limit=limit)
    assert [r["symbol"] for r in desc] == [*reversed(expected), *reversed(_no_bar(seeded_url))]


async def test_bar_sort_with_filters(client: httpx.AsyncClient, seeded_url: str,
                                     bars: dict[str, tuple[float, float, str]]) -> None:
    kospi = sorted((s for s in bars if bars[s][2] == "KOSPI"), key=lambda s: (bars[s][0], s), reverse=True)
    got = await _pages(client, sort="close", order="desc", market="KOSPI", limit=3)
    assert [r["symbol"] for r in got] == [*kospi, *reversed(_no_bar(seeded_url, "KOSPI"))]
    # a state filter: only the seeded symbols have states; BBB's direction is down, the others' up
    up = await _pages(client, sort="close", direction="up", limit=1)
    assert [r["symbol"] for r in up] == sorted(["AAA", "CCC.KS"], key=lambda s: (bars[s][0], s))
