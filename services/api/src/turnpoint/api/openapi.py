"""OpenAPI polish: clean operation ids (a generated client reads `list_symbols`, not
`symbols_v1_symbols_get`) and real response examples, from one table keyed by method and path."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

OPERATION_IDS: dict[tuple[str, str], str] = {
    ("GET", "/v1/symbols"): "list_symbols",
    ("GET", "/v1/symbols/{symbol}/bars"): "list_bars",
    ("GET", "/v1/symbols/{symbol}/rebounds"): "list_rebounds",
    ("GET", "/v1/symbols/{symbol}/rebounds/summary"): "get_window_summary",
    ("GET", "/v1/rebounds/summary"): "list_window_summaries",
    ("GET", "/v1/symbols/{symbol}/state"): "get_state",
    ("GET", "/v1/symbols/{symbol}/predictions"): "list_symbol_predictions",
    ("GET", "/v1/stats"): "list_stats",
    ("GET", "/v1/outliers"): "list_outliers",
    ("GET", "/v1/readings"): "list_readings",
    ("GET", "/v1/series"): "list_series",
    ("GET", "/v1/predictions"): "list_predictions",
    ("GET", "/v1/jobs"): "list_jobs",
    ("GET", "/v1/alerts"): "list_alerts",
    ("GET", "/healthz"): "get_health",
    ("GET", "/readyz"): "get_readiness",
    ("GET", "/metrics"): "get_metrics",
}


def operation_id(route: APIRoute) -> str:
    """The table's id, else the handler's name (routes added later still get a readable id)."""
    method = sorted(route.methods or {"GET"})[0]
    return OPERATION_IDS.get((method, route.path_format), route.name)


_LEG = {"symbol": "005930", "gtype": "close", "start_date": "2024-03-04", "start_value": 71200.0,
        "end_date": "2024-03-27", "end_value": 81500.0, "bars": 17, "change": 10300.0,
        "pct": 14.466292134831461, "direction": "up"}
_STATE = {"symbol": "005930", "gtype": "close", "threshold": 0.05, "direction": "down",
          "pivot_date": "2024-03-27", "pivot_value": 81500.0, "extreme_date": "2024-04-19",
          "extreme_value": 75600.0, "last_date": "2024-04-24", "last_value": 76300.0, "bars_since_pivot": 20,
          "pct_from_pivot": -6.380368098159508, "pct_from_extreme": 0.9259259259259345,
          "updated_at": "2024-04-24T07:05:12.345678Z"}
EXAMPLES: dict[str, Any] = {
    "list_symbols": {"items": [{
        "symbol": "005930", "name": "Samsung Electronics", "market": "KOSPI", "status": "active",
        "designations": [], "bar": {"date": "2024-04-24", "open": 77500.0, "high": 78000.0, "low": 76200.0,
                                    "close": 76300.0, "volume": 18210000.0},
        "state": {k: v for k, v in _STATE.items() if k not in ("symbol", "threshold", "updated_at")}}],
        "next_cursor": "WyJzeW1ib2wiLCAiMDA1OTMwIl0"},
    "list_bars": {"items": [{"start": "2024-04-22", "end": "2024-04-26", "open": 76100.0, "high": 78000.0,
                             "low": 75600.0, "close": 76300.0, "volume": 81230000.0, "bars": 5}],
                  "next_cursor": None},
    "list_rebounds": {"items": [_LEG], "next_cursor": None},
    "get_state": _STATE,
    "get_window_summary": {"symbol": "005930", "gtype": "close", "days": 7, "trading_days": 7,
                           "from": "2024-04-16", "to": "2024-04-24", "up": {"legs": 2, "mean_pct": 10.0},
                           "down": {"legs": 2, "mean_pct": -20.0}},
    "list_stats": {"items": [{"series": "plant0/people", "period": "month-weekday", "start": "2024-03-01",
                              "weekday": 1, "count": 96, "mean": 20.125, "std": 3.2113, "min": 12.0, "max": 31.0,
                              "unit": "persons", "tz": "Asia/Seoul"}], "next_cursor": None, "tz": "Asia/Seoul"},
    "list_outliers": {"items": [{"series": "plant0/people", "ts": "2024-03-05T00:15:00Z", "value": 42.0,
                                 "mean": 20.1, "std": 3.2, "direction": "high", "k": 1.5, "window_days": 28,
                                 "unit": "persons"}], "next_cursor": None},
    "list_readings": {"items": [{"series": "plant0/people", "ts": "2024-03-05T00:15:00Z", "value": 42.0,
                                 "unit": "persons"}], "next_cursor": None},
    "list_series": {"items": [{"series": "plant0/people", "latest": {"ts": "2024-03-31T14:45:00Z", "value": 18.0,
                                                                     "unit": "persons"}}], "next_cursor": None},
    "list_predictions": {"items": [{
        "model": "anomaly-ae", "version": "3", "kind": "anomaly", "target": "plant0/people",
        "asof": "2024-03-05T00:15:00Z", "horizon": 0,
        "values": {"score": 4.81, "threshold": 3.5, "flagged": True}, "trace_id": "9f2c0a7e5b1d4c3a"}],
        "next_cursor": None},
    "list_symbol_predictions": {"items": [{
        "model": "arima", "version": "2", "kind": "forecast", "target": "005930", "asof": "2024-04-24T00:00:00Z",
        "horizon": 5, "values": [{"trading_days_ahead": d, "value": v}
                                 for d, v in enumerate([76500.0, 76720.5, 76810.0, 77050.25, 77100.0], 1)],
        "trace_id": "4be1d2f08a9c7e65"}], "next_cursor": None},
    "list_jobs": {"items": [{"job": "loader", "status": "ok", "last_success": "2024-04-24T07:05:12Z", "rows": 48211,
                             "detail": None, "updated_at": "2024-04-24T07:05:12Z", "age_seconds": 12.5}],
                  "next_cursor": None},
}


def add_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """Put each operation's example on its 200 JSON response."""
    for methods in schema.get("paths", {}).values():
        for op in methods.values():
            example = EXAMPLES.get(op.get("operationId", ""))
            content = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json")
            if example is not None and content is not None:
                content["example"] = example
    return schema
