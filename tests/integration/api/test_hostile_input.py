"""SQL injection and oversized parameters never reach the database as SQL, nor crash the server."""

from __future__ import annotations

import httpx
import pytest
from integration.api.api_seed import SERIES

pytestmark = [pytest.mark.timeout(60), pytest.mark.asyncio(loop_scope="session")]

INJECTIONS = ("x' OR '1'='1", "'; DROP TABLE symbol; --", "%", "_", "\\", "AAA' UNION SELECT * FROM api_token --")


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_in_text_search_is_a_literal(client: httpx.AsyncClient, payload: str) -> None:
    r = await client.get("/v1/symbols", params={"q": payload})
    assert r.status_code == 200
    assert r.json()["items"] == []  # no name contains these characters literally


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_injection_in_series_and_market_is_a_literal(client: httpx.AsyncClient, payload: str) -> None:
    assert (await client.get("/v1/stats", params={"series": payload, "period": "day"})).status_code == 404
    assert (await client.get("/v1/outliers", params={"series": payload})).status_code == 404
    assert (await client.get("/v1/symbols", params={"market": payload})).json()["items"] == []


async def test_injection_in_path_is_rejected_and_tables_survive(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/symbols/AAA';DROP TABLE price;--/bars")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "symbol"
    assert len((await client.get("/v1/symbols/AAA/bars")).json()["items"]) > 0


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/stats", {"series": "s" * 201, "period": "day"}, "series"),
    ("/v1/symbols", {"q": "q" * 65}, "q"),
    ("/v1/symbols/AAA/bars", {"limit": 1001}, "limit"),
    ("/v1/symbols/AAA/bars", {"limit": 0}, "limit"),
    ("/v1/symbols/AAA/bars", {"limit": 10**30}, "limit"),
    ("/v1/symbols/AAA/bars", {"cursor": "c" * 600}, "cursor"),
    ("/v1/symbols/AAA/bars", {"from": "9" * 100}, "from"),
    ("/v1/symbols/AAA/rebounds/summary", {"days": 10**6}, "days"),
    ("/v1/symbols", {"min_pct": "1e400"}, "min_pct"),
    ("/v1/outliers", {"series": SERIES, "to": "x" * 41}, "to"),
    ("/v1/outliers", {"series": "nul\x00byte"}, "series"),
])
async def test_oversized_parameters_are_422_naming_the_field(client: httpx.AsyncClient, path: str,
                                                             params: dict[str, object], field: str) -> None:
    r = await client.get(path, params=params)
    assert r.status_code == 422, r.text
    assert field in [e["field"] for e in r.json()["errors"]]


async def test_oversized_symbol_path_is_422(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/v1/symbols/{'A' * 33}/bars")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "symbol"


@pytest.mark.parametrize("path", ["/v1/readings", "/v1/outliers", "/v1/predictions"])
@pytest.mark.parametrize("bound", ["from", "to"])
@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "9999-12-31"])
async def test_instants_at_the_calendar_ends_are_422(client: httpx.AsyncClient, path: str, bound: str,
                                                     value: str) -> None:
    key = "target" if path == "/v1/predictions" else "series"
    r = await client.get(path, params={key: SERIES, bound: value})
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert bound in [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(("path", "kind"), [("/v1/symbols/AAA/bars", "bars:day"),
                                            ("/v1/symbols/AAA/rebounds", "legs:close")])
@pytest.mark.parametrize("last", ["9999-12-31", "0001-01-01"])
async def test_forged_cursors_at_the_calendar_ends_are_422(client: httpx.AsyncClient, path: str, kind: str,
                                                           last: str) -> None:
    from turnpoint.api import cursor

    r = await client.get(path, params={"cursor": cursor.encode(kind, [last])})
    assert r.status_code == 422, r.text
    assert "cursor" in [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize("path", ["/v1/symbols/AAA/bars", "/v1/symbols/AAA/rebounds"])
async def test_dates_outside_the_years_are_422(client: httpx.AsyncClient, path: str) -> None:
    r = await client.get(path, params={"from": "9999-12-31"})
    assert r.status_code == 422, r.text
    assert "from" in [e["field"] for e in r.json()["errors"]]
