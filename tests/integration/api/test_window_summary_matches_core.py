"""The API's window summary (one SQL aggregate) must agree with the shared `window_summary` algorithm."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import psycopg
import pytest

from turnpoint.core.algorithms import window_summary

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


@pytest.mark.parametrize("days", [1, 5, 7, 30, 400])
async def test_window_summary_agrees_with_the_algorithm(client: httpx.AsyncClient, seeded_url: str, days: int) -> None:
    with psycopg.connect(seeded_url) as conn:
        symbol, gtype = conn.execute(
            "SELECT symbol, gtype FROM rebound_leg GROUP BY symbol, gtype ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()  # type: ignore[misc]
        dates: list[dt.date] = [r[0] for r in conn.execute(
            "SELECT start FROM price WHERE symbol = %s AND interval = 'day' ORDER BY start", (symbol,))]
        legs: list[dict[str, Any]] = [
            {"end_date": r[0], "pct": r[1], "direction": r[2]}
            for r in conn.execute("SELECT end_date, pct, direction FROM rebound_leg WHERE symbol = %s AND gtype = %s",
                                  (symbol, gtype))
        ]
    expected = window_summary(legs, dates, days)
    r = await client.get(f"/v1/symbols/{symbol}/rebounds/summary", params={"gtype": gtype, "days": days})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["up"]["legs"], body["down"]["legs"]) == (expected.up_count, expected.down_count)
    for side, mean in (("up", expected.up_mean_pct), ("down", expected.down_mean_pct)):
        if mean is None:
            assert body[side]["mean_pct"] is None
        else:
            assert body[side]["mean_pct"] == pytest.approx(mean, rel=1e-12)
