"""Issue #18 on the API side: labelled prediction values, units on stats and outliers, bar-only symbols in
the list, clean operation ids with examples, docs and dashboard assets served locally (no CDN)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import psycopg
import pytest
from integration.api.api_seed import SERIES

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

T0 = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def extra(seeded_url: str) -> None:
    with psycopg.connect(seeded_url) as conn:
        for i, (score, flag) in enumerate([(4.8, 1.0), (0.7, 0.0)]):
            conn.execute("INSERT INTO prediction (model, version, kind, target, asof, horizon, \"values\", trace_id)"
                         " VALUES ('anomaly-ae', '3', 'anomaly', 'dash/sensor', %s, 0, %s, 'tr')",
                         (T0 + dt.timedelta(minutes=i), [score, 3.5, flag]))
        conn.execute("INSERT INTO reading (series, ts, value, unit) VALUES (%s, %s, 1.0, 'degC')",
                     (SERIES, T0))
        # a symbol with bars and no metadata row: its first bar lists it (migration 0011)
        conn.execute("INSERT INTO latest_bar (symbol, start, open, high, low, close, volume)"
                     " VALUES ('BARONLY', '2024-05-02', 10, 11, 9, 10.5, 1000)")


async def test_anomaly_values_are_labelled(client: httpx.AsyncClient, extra: None) -> None:
    items = (await client.get("/v1/predictions", params={"target": "dash/sensor"})).json()["items"]
    assert [p["values"] for p in items] == [{"score": 4.8, "threshold": 3.5, "flagged": True},
                                            {"score": 0.7, "threshold": 3.5, "flagged": False}]


async def test_stats_and_outliers_carry_the_series_unit(client: httpx.AsyncClient, extra: None) -> None:
    stats = (await client.get("/v1/stats", params={"series": SERIES, "period": "day"})).json()["items"]
    outliers = (await client.get("/v1/outliers", params={"series": SERIES})).json()["items"]
    assert stats and outliers
    assert {s["unit"] for s in stats} == {"degC"} and {o["unit"] for o in outliers} == {"degC"}


async def test_bar_only_symbols_are_listed(client: httpx.AsyncClient, extra: None) -> None:
    rows = (await client.get("/v1/symbols", params={"q": "BARONLY"})).json()["items"]
    assert [(r["symbol"], r["name"], r["market"], r["bar"]["close"]) for r in rows] == [("BARONLY", None, None, 10.5)]


async def test_operation_ids_are_clean_and_documented_with_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ops = {op["operationId"]: op for methods in spec["paths"].values() for op in methods.values()}
    for name in ("list_symbols", "list_bars", "list_rebounds", "get_state", "get_window_summary", "list_stats",
                 "list_outliers", "list_readings", "list_series", "list_predictions", "list_jobs"):
        assert name in ops, sorted(ops)
        assert "example" in ops[name]["responses"]["200"]["content"]["application/json"], name
    assert all(re.fullmatch(r"[a-z_]+", op) for op in ops), sorted(ops)
    state = spec["components"]["schemas"]["StateOut"]["properties"]
    assert "fraction" in state["threshold"]["description"] and "percent" in state["pct_from_pivot"]["description"]


async def test_docs_and_dashboard_are_served_locally(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc", "/", "/symbols/AAA", "/series", "/freshness"):
        r = await client.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
        assert "default-src 'self'" in r.headers["content-security-policy"], page
        for src in re.findall(r'(?:src|href)="([^"]+)"', r.text):
            assert src.startswith("/"), (page, src)  # nothing from another host
            assert (await client.get(src)).status_code == 200, (page, src)
    assert (await client.get("/ui/vendor/echarts/echarts.min.js")).status_code == 200
    assert (await client.get("/ui/vendor/echarts/LICENSE")).status_code == 200
    assert "content-security-policy" not in (await client.get("/v1/symbols")).headers  # JSON passes through


async def test_window_summaries_of_many_symbols_equal_each_symbols_own(client: httpx.AsyncClient, extra: None) -> None:
    names = [r["symbol"] for r in (await client.get("/v1/symbols", params={"limit": 1000})).json()["items"]]
    for gtype, days in (("close", 7), ("open", 3), ("close", 400)):
        r = await client.get("/v1/rebounds/summary", params={"symbols": ",".join([*names, "NOBARS"]), "gtype": gtype,
                                                             "days": days})
        assert r.status_code == 200, r.text
        many = r.json()["items"]
        one = []
        for name in names:
            single = await client.get(f"/v1/symbols/{name}/rebounds/summary", params={"gtype": gtype, "days": days})
            if single.status_code == 200:
                one.append(single.json())
        assert many == one and len(many) >= 3
        if gtype == "close" and days == 400:
            assert any(w["up"]["legs"] and w["down"]["legs"] for w in many), "the seed's legs are in this window"
    assert (await client.get("/v1/rebounds/summary", params={"symbols": "A,B C"})).status_code == 422
    assert (await client.get("/v1/rebounds/summary", params={"symbols": ",".join(f"S{i}" for i in range(1001))})
            ).status_code == 422
