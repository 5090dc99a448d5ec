"""Keyset pages stay stable while rows are inserted concurrently: nothing repeats, nothing before the cursor
is skipped, and every row that existed when paging started is seen exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import psycopg
import pytest

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

SERIES = "pagination/under-inserts"
T0 = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


async def test_readings_pages_under_concurrent_inserts(client: httpx.AsyncClient, seeded_url: str) -> None:
    original = [T0 + dt.timedelta(minutes=2 * i) for i in range(200)]
    with psycopg.connect(seeded_url) as conn:
        conn.cursor().executemany("INSERT INTO reading (series, ts, value) VALUES (%s, %s, 1)",
                                  [(SERIES, ts) for ts in original])

    stop = asyncio.Event()

    async def writer() -> int:
        n = 0
        async with await psycopg.AsyncConnection.connect(seeded_url, autocommit=True) as conn:
            while not stop.is_set():
                # odd minutes fall between existing rows, before and after the reader's cursor
                ts = T0 + dt.timedelta(minutes=2 * ((n * 37) % 200) + 1)
                await conn.execute("INSERT INTO reading (series, ts, value) VALUES (%s, %s, 2) ON CONFLICT DO NOTHING",
                                   (SERIES, ts))
                n += 1
                await asyncio.sleep(0)
        return n

    task = asyncio.create_task(writer())
    seen: list[str] = []
    cursor = None
    try:
        for _ in range(200):
            r = await client.get("/v1/readings", params={"series": SERIES, "limit": 7,
                                                         **({"cursor": cursor} if cursor else {})})
            assert r.status_code == 200, r.text
            seen += [row["ts"] for row in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        inserted = await task
    assert inserted > 0
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert seen == sorted(seen), "pages went backwards"
    expected = {ts.isoformat().replace("+00:00", "Z") for ts in original}
    assert expected <= set(seen), "a row that existed before paging started was skipped"
