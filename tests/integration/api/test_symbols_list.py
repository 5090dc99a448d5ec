"""The symbols list's order and keyset pages on the real schema: ties, both directions, and the rows without a
value in the sort column (no rebound state, no bars), which come last and are read by a second statement."""

from __future__ import annotations

import httpx
import psycopg
import pytest

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

SEEDED = ["AAA", "BBB", "CCC.KS"]  # each with bars and a state for every gtype (api_seed)
BARE = ["DDD", "EEE"]  # a symbol row only: no state, no bars


@pytest.fixture(scope="module")
def bare_symbols(seeded_url: str) -> list[str]:
    """This module's own database (seeded_url is per module), plus symbols without state or bars and a state
    without a symbol row (never listed: the list is of symbols)."""
    with psycopg.connect(seeded_url) as conn:
        for sym in BARE:
            conn.execute("INSERT INTO symbol (symbol, name, market) VALUES (%s, %s, 'KOSPI')", (sym, f"{sym} Corp"))
        conn.execute(
            "INSERT INTO rebound_state (symbol, gtype, threshold, direction, pivot_date, pivot_value, extreme_date,"
            " extreme_value, last_date, last_value, bars_since_pivot, pct_from_pivot, pct_from_extreme)"
            " VALUES ('ORPHAN', 'close', 0, 'up', '2024-01-01', 1, '2024-01-01', 1, '2024-01-01', 1, 4, 99, 0)")
    return BARE


async def _symbols(client: httpx.AsyncClient, **params: object) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        r = await client.get("/v1/symbols", params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        seen += [row["symbol"] for row in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return seen
    msg = "pagination did not end"
    raise AssertionError(msg)


@pytest.mark.parametrize("limit", [1, 2, 4, 100])
async def test_ties_break_by_symbol_in_the_sort_direction_and_rows_without_state_come_last(
        client: httpx.AsyncClient, bare_symbols: list[str], limit: int) -> None:
    # bars_since_pivot is 4 for every seeded state: the whole order is the tie-break
    asc = await _symbols(client, sort="bars_since_pivot", limit=limit)
    assert asc == [*SEEDED, *bare_symbols]
    desc = await _symbols(client, sort="bars_since_pivot", order="desc", limit=limit)
    assert desc == [*reversed(SEEDED), *reversed(bare_symbols)]


@pytest.mark.parametrize("limit", [1, 3, 100])
async def test_state_sort_by_value_then_the_tail(client: httpx.AsyncClient, bare_symbols: list[str],
                                                 limit: int) -> None:
    # pct_from_pivot for gtype=high (g=1): AAA 1.0, BBB -4.0, CCC.KS -9.0
    assert await _symbols(client, sort="pct_from_pivot", gtype="high", limit=limit) == ["CCC.KS", "BBB", "AAA",
                                                                                         *bare_symbols]
    assert await _symbols(client, sort="pct_from_pivot", gtype="high", order="desc", limit=limit) == [
        "AAA", "BBB", "CCC.KS", *reversed(bare_symbols)]


async def test_state_filters_leave_out_symbols_without_state(client: httpx.AsyncClient,
                                                             bare_symbols: list[str]) -> None:
    assert await _symbols(client, sort="pct_from_pivot", direction="up", limit=1) == ["CCC.KS", "AAA"]
    assert await _symbols(client, sort="last_value", min_pct=-100, limit=1) == SEEDED
    assert await _symbols(client, sort="last_value", market="KOSPI", limit=1) == ["BBB", *bare_symbols]
    assert await _symbols(client, sort="last_value", q="dd", limit=1) == ["DDD"]


async def test_bar_sort_puts_symbols_without_bars_last(client: httpx.AsyncClient, bare_symbols: list[str]) -> None:
    # every seeded symbol's latest volume is the same (30,000): ties again
    assert await _symbols(client, sort="volume", order="desc", limit=1) == [*reversed(SEEDED), *reversed(bare_symbols)]
    closes = await _symbols(client, sort="close", limit=2)
    assert closes == [*SEEDED, *bare_symbols]


async def test_cursor_of_an_integer_sort_must_hold_an_integer(client: httpx.AsyncClient) -> None:
    from turnpoint.api import cursor

    token = cursor.encode("symbols:bars_since_pivot:asc:close", [1.5, "AAA"])
    r = await client.get("/v1/symbols", params={"sort": "bars_since_pivot", "cursor": token})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    other = cursor.encode("symbols:bars_since_pivot:desc:close", [4, "BBB"])
    assert (await client.get("/v1/symbols", params={"sort": "bars_since_pivot", "cursor": other})).status_code == 422
