"""Route tests against real PostgreSQL with seeded data (tests/integration/api/conftest.py)."""

from __future__ import annotations

import httpx
import pytest
from integration.api.api_seed import N_DAYS, SERIES

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]


async def test_bars_page_through_every_day_in_order(client: httpx.AsyncClient) -> None:
    seen, cursor = [], None
    for _ in range(10):
        params = {"interval": "day", "limit": 7, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/symbols/AAA/bars", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [b["start"] for b in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == N_DAYS
    assert seen == sorted(seen) and len(set(seen)) == N_DAYS
    assert seen[0] == "2024-01-01"


async def test_bars_from_to_inclusive(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/AAA/bars", params={"from": "2024-01-03", "to": "2024-01-05"})
    assert [b["start"] for b in r.json()["items"]] == ["2024-01-03", "2024-01-04", "2024-01-05"]
    assert r.json()["next_cursor"] is None


async def test_unknown_symbol_is_404_problem(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/NOPE/bars")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404 and "NOPE" in r.json()["detail"]


async def test_bad_interval_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/AAA/bars", params={"interval": "hour"})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["interval"]


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json()["status"] == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    await client.get("/v1/symbols/AAA/bars")
    metrics = (await client.get("/metrics")).text
    assert 'turnpoint_api_requests_total{method="GET",route="/v1/symbols/{symbol}/bars",status="200"}' in metrics


async def test_stats_keys_are_local_dates_and_tz_is_named(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/stats", params={"series": SERIES, "period": "day", "limit": 3})
    body = r.json()
    assert r.status_code == 200 and body["tz"] == "UTC"
    assert [row["start"] for row in body["items"]] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert body["items"][0]["weekday"] is None


async def _all_pages(client: httpx.AsyncClient, path: str, params: dict[str, object]) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    for _ in range(100):
        r = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            return items
    msg = "pagination did not end"
    raise AssertionError(msg)


async def test_rebounds_have_spec_fields_and_filter_by_start_date(client: httpx.AsyncClient) -> None:
    legs = await _all_pages(client, "/v1/symbols/BBB/rebounds", {"gtype": "close", "limit": 2})
    assert [leg["start_date"] for leg in legs] == ["2024-01-01", "2024-01-06", "2024-01-11", "2024-01-16", "2024-01-21"]
    assert set(legs[0]) == {"symbol", "gtype", "start_date", "start_value", "end_date", "end_value", "bars", "change",
                            "pct", "direction"}
    assert legs[0]["direction"] == "up" and legs[0]["pct"] == pytest.approx(10.0)
    r = await client.get("/v1/symbols/BBB/rebounds", params={"from": "2024-01-06", "to": "2024-01-11"})
    assert [leg["start_date"] for leg in r.json()["items"]] == ["2024-01-06", "2024-01-11"]
    assert (await client.get("/v1/symbols/BBB/rebounds", params={"gtype": "volume"})).status_code == 422


async def test_state_and_unknown_state(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/BBB/state", params={"gtype": "close"})
    assert r.status_code == 200
    body = r.json()
    assert body["direction"] == "down" and body["pivot_date"] == "2024-01-26"
    assert body["pct_from_pivot"] == pytest.approx(-2.0)
    assert body["updated_at"].endswith("Z")
    assert (await client.get("/v1/symbols/ZZZ/state")).status_code == 404


async def test_window_summary_counts_legs_that_ended_in_the_last_trading_days(client: httpx.AsyncClient) -> None:
    # Bars run 2024-01-01..01-30; legs end on 01-06, 01-11, 01-16, 01-21, 01-26 (up, down, up, down, up).
    r = await client.get("/v1/symbols/AAA/rebounds/summary", params={"days": 10})
    body = r.json()
    assert r.status_code == 200, r.text
    assert body["from"] == "2024-01-21" and body["to"] == "2024-01-30" and body["trading_days"] == 10
    assert body["up"]["legs"] == 1 and body["down"]["legs"] == 1
    assert body["up"]["mean_pct"] == pytest.approx((114 / 104 - 1) * 100)
    empty = (await client.get("/v1/symbols/AAA/rebounds/summary", params={"days": 2})).json()
    assert empty["up"] == {"legs": 0, "mean_pct": None}


async def test_series_with_slash_outliers_readings_and_latest(client: httpx.AsyncClient) -> None:
    outliers = await _all_pages(client, "/v1/outliers", {"series": SERIES, "limit": 5})
    assert len(outliers) == 12 and outliers[0]["ts"] == "2024-03-01T00:00:00Z"
    window = await client.get("/v1/outliers", params={"series": SERIES, "from": "2024-03-01T04:00:00+00:00",
                                                        "to": "2024-03-01T08:00:00Z"})
    assert [o["ts"] for o in window.json()["items"]] == ["2024-03-01T04:00:00Z", "2024-03-01T06:00:00Z"]
    readings = await _all_pages(client, "/v1/readings", {"series": SERIES, "limit": 20, "from": "2024-03-02"})
    assert len(readings) == 24 and readings[-1]["ts"] == "2024-03-02T23:00:00Z"
    series = (await client.get("/v1/series")).json()["items"]
    assert [s["series"] for s in series] == ["other", SERIES]
    assert series[1]["latest"]["ts"] == "2024-03-02T23:00:00Z"
    assert (await client.get("/v1/outliers", params={"series": "plant/none"})).status_code == 404
    naive = await client.get("/v1/outliers", params={"series": SERIES, "from": "2024-03-01T04:00:00"})
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "from"


async def test_stats_weekday_pages_are_complete(client: httpx.AsyncClient) -> None:
    rows = await _all_pages(client, "/v1/stats", {"series": SERIES, "period": "month-weekday", "limit": 4})
    keys = [(r["start"], r["weekday"]) for r in rows]
    assert len(keys) == 30 and keys == sorted(keys) and len(set(keys)) == 30
    assert (await client.get("/v1/stats", params={"series": "nope", "period": "day"})).status_code == 404


async def test_predictions_and_jobs(client: httpx.AsyncClient) -> None:
    preds = await _all_pages(client, "/v1/symbols/AAA/predictions", {"limit": 2})
    assert [p["asof"] for p in preds] == ["2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", "2024-03-03T00:00:00Z"]
    assert preds[0]["model"] == "arima" and preds[0]["values"] == [
        {"trading_days_ahead": 1, "value": 1.0}, {"trading_days_ahead": 2, "value": 2.0},
        {"trading_days_ahead": 3, "value": 3.0}]
    assert (await client.get("/v1/symbols/NOPE/predictions")).status_code == 404
    jobs = (await client.get("/v1/jobs")).json()["items"]
    assert jobs[0]["job"] == "loader.price" and jobs[0]["age_seconds"] > 0


async def test_symbols_list_latest_bar_and_state(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/symbols")).json()
    assert [s["symbol"] for s in body["items"]] == ["AAA", "BBB", "CCC.KS"]
    aaa = body["items"][0]
    assert aaa["bar"]["date"] == "2024-01-30" and aaa["state"]["gtype"] == "close"
    assert aaa["designations"] == ["kospi200"]


async def test_symbols_list_sorted_filtered_and_paged(client: httpx.AsyncClient) -> None:
    # pct_from_pivot for gtype=close (g=3): AAA 3.0, BBB -2.0, CCC.KS -7.0
    desc = await _all_pages(client, "/v1/symbols", {"sort": "pct_from_pivot", "order": "desc", "limit": 1})
    assert [s["symbol"] for s in desc] == ["AAA", "BBB", "CCC.KS"]
    asc = await _all_pages(client, "/v1/symbols", {"sort": "pct_from_pivot", "gtype": "open", "limit": 2})
    assert [s["state"]["pct_from_pivot"] for s in asc] == [-10.0, -5.0, 0.0]
    by_volume = await _all_pages(client, "/v1/symbols", {"sort": "volume", "order": "desc", "limit": 2})
    assert len(by_volume) == 3
    down = (await client.get("/v1/symbols", params={"direction": "down"})).json()["items"]
    assert [s["symbol"] for s in down] == ["BBB"]
    ranged = (await client.get("/v1/symbols", params={"min_pct": -3, "max_pct": 3})).json()["items"]
    assert [s["symbol"] for s in ranged] == ["AAA", "BBB"]
    found = (await client.get("/v1/symbols", params={"q": "ccc"})).json()["items"]
    assert [s["symbol"] for s in found] == ["CCC.KS"]
    kospi = (await client.get("/v1/symbols", params={"market": "KOSPI"})).json()["items"]
    assert [s["symbol"] for s in kospi] == ["BBB"]
    bad = await client.get("/v1/symbols", params={"sort": "name; DROP TABLE symbol"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sort"


async def test_cursor_of_another_endpoint_or_garbage_is_422(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1/symbols/AAA/bars", params={"limit": 1})).json()
    r = await client.get("/v1/symbols/AAA/rebounds", params={"cursor": first["next_cursor"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    for garbage in ("!!!", "e30", "WyJiYXJzOmRheSIsIjIwMjQtMTMtMDEiXQ"):
        r = await client.get("/v1/symbols/AAA/bars", params={"cursor": garbage})
        assert r.status_code == 422, garbage
