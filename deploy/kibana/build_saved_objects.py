"""Writes saved_objects.ndjson: the inference-log data view, visualisations and the dashboard.

Run `python deploy/kibana/build_saved_objects.py` after changing it (then copy saved_objects.ndjson to
deploy/k8s/platform/kibana/); unit tests check the file is current and that every field it uses is mapped by
the index template. Aggregation-based visualisations (legacy `visualization` objects) are used because
Kibana 8 imports and migrates them from a stable format.

Two data views over the same indices: charts over bar or reading time (forecast vs actual, forecast error,
anomaly scores, flagged anomalies) use `turnpoint.asof`, the date of the bar or the reading an inference is
about, so a backfill's forecasts spread over their bar dates instead of the minute they were computed;
latency and throughput use `@timestamp`, the time of the inference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "saved_objects.ndjson"
DATA_VIEW = "turnpoint-inference"  # time field @timestamp: when the inference ran
ASOF_VIEW = "turnpoint-inference-asof"  # time field turnpoint.asof: the bar's or reading's time
INFERENCE_TIME, BAR_TIME = "@timestamp", "turnpoint.asof"
VIEW_OF = {INFERENCE_TIME: DATA_VIEW, BAR_TIME: ASOF_VIEW}


def _ref(time_field: str) -> list[dict[str, str]]:
    return [{"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern",
             "id": VIEW_OF[time_field]}]


def _search_source(query: str) -> dict[str, Any]:
    return {"searchSourceJSON": json.dumps({
        "query": {"query": query, "language": "kuery"}, "filter": [],
        "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index",
    })}


def _axis_params(kind: str, metrics: list[tuple[str, str]], y_title: str) -> dict[str, Any]:
    return {
        "type": kind, "addTooltip": True, "addLegend": True, "legendPosition": "right", "times": [],
        "addTimeMarker": False, "grid": {"categoryLines": False},
        "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                          "scale": {"type": "linear"}, "labels": {"show": True, "filter": True, "truncate": 100},
                          "title": {}}],
        "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left", "show": True,
                       "scale": {"type": "linear", "mode": "normal"},
                       "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                       "title": {"text": y_title}}],
        "seriesParams": [{"show": True, "type": kind, "mode": "normal", "data": {"label": label, "id": agg_id},
                          "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True, "lineWidth": 2,
                          "showCircles": True, "interpolate": "linear"} for agg_id, label in metrics],
    }


def _metric(agg_id: str, agg: str, field: str, label: str, **params: Any) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": agg, "schema": "metric",
            "params": {"field": field, "customLabel": label, **params}}


def _time(agg_id: str, field: str) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "date_histogram", "schema": "segment",
            "params": {"field": field, "useNormalizedEsInterval": True, "interval": "auto",
                       "drop_partials": False, "min_doc_count": 1, "extended_bounds": {}}}


def _terms(agg_id: str, field: str, size: int = 5) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": "group",
            "params": {"field": field, "size": size, "order": "desc", "orderBy": "_key", "otherBucket": False,
                       "missingBucket": False}}


def _vis(vid: str, title: str, description: str, kind: str, aggs: list[dict[str, Any]], query: str,
         y_title: str) -> dict[str, Any]:
    metrics = [(a["id"], a["params"]["customLabel"]) for a in aggs if a["schema"] == "metric"]
    (time_field,) = [a["params"]["field"] for a in aggs if a["type"] == "date_histogram"]
    state = {"title": title, "type": kind, "aggs": aggs, "params": _axis_params(kind, metrics, y_title)}
    return {
        "type": "visualization", "id": vid, "references": _ref(time_field),
        "attributes": {"title": title, "description": description, "version": 1, "uiStateJSON": "{}",
                       "visState": json.dumps(state), "kibanaSavedObjectMeta": _search_source(query)},
    }


def objects() -> list[dict[str, Any]]:
    data_views = [
        {"type": "index-pattern", "id": DATA_VIEW, "references": [],
         "attributes": {"title": "turnpoint-inference-*", "name": "turnpoint inference log (inference time)",
                        "timeFieldName": INFERENCE_TIME}},
        {"type": "index-pattern", "id": ASOF_VIEW, "references": [],
         "attributes": {"title": "turnpoint-inference-*", "name": "turnpoint inference log (bar/reading time)",
                        "timeFieldName": BAR_TIME}},
    ]
    vis = [
        _vis("turnpoint-forecast-vs-actual", "turnpoint: forecast vs actual (next close)",
             "The previous day's 1-step forecast against the close that followed (stream worker).", "line",
             [_metric("1", "avg", "turnpoint.realised.predicted", "forecast (h1)"),
              _metric("2", "avg", "turnpoint.realised.actual", "actual close"), _time("3", BAR_TIME),
              _terms("4", "turnpoint.target")],
             "turnpoint.model.kind : \"forecast\" and turnpoint.realised.actual : *", "close"),
        _vis("turnpoint-forecast-error", "turnpoint: forecast absolute % error by model version",
             "Mean absolute percentage error of realised 1-step forecasts.", "line",
             [_metric("1", "avg", "turnpoint.realised.abs_pct_error", "abs % error"), _time("2", BAR_TIME),
              _terms("3", "turnpoint.model.version")],
             "turnpoint.model.kind : \"forecast\"", "%"),
        _vis("turnpoint-inference-latency", "turnpoint: inference latency (ms)",
             "Batch inference duration; p50/p99 per source (http, stream).", "line",
             [_metric("1", "percentiles", "turnpoint.latency_ms", "latency ms", percents=[50, 99]),
              _metric("2", "max", "turnpoint.latency_ms", "max ms"), _time("3", INFERENCE_TIME),
              _terms("4", "turnpoint.source")],
             "", "ms"),
        _vis("turnpoint-anomaly-scores", "turnpoint: anomaly scores",
             "Max anomaly score per series against the model threshold.", "line",
             [_metric("1", "max", "turnpoint.anomaly.score", "max score"),
              _metric("2", "avg", "turnpoint.anomaly.threshold", "threshold"), _time("3", BAR_TIME),
              _terms("4", "turnpoint.target", 10)],
             "turnpoint.model.kind : \"anomaly\"", "score"),
        _vis("turnpoint-inferences-by-model", "turnpoint: inferences by model version",
             "Inference count per model and version (hot reloads show as a switch).", "histogram",
             [{"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {"customLabel": "inferences"}},
              _time("2", INFERENCE_TIME), _terms("3", "turnpoint.model.version", 10)],
             "", "inferences"),
    ]
    flagged = {
        "type": "search", "id": "turnpoint-flagged-anomalies", "references": _ref(BAR_TIME),
        "attributes": {
            "title": "turnpoint: flagged anomalies", "description": "Readings the scorer flagged, newest first.",
            "columns": ["turnpoint.target", "turnpoint.input.last", "turnpoint.anomaly.score",
                        "turnpoint.anomaly.threshold", "turnpoint.model.version", "trace.id"],
            "sort": [[BAR_TIME, "desc"]],
            "kibanaSavedObjectMeta": _search_source("turnpoint.anomaly.flagged : true"),
        },
    }
    panels, refs = [], []
    layout = [(0, 0), (24, 0), (0, 15), (24, 15), (0, 30), (24, 30)]
    for i, (obj, (x, y)) in enumerate(zip([*vis, flagged], layout, strict=True)):
        ref = f"panel_{i}"
        panels.append({"version": "8.11.0", "type": obj["type"], "panelIndex": str(i + 1),
                       "gridData": {"x": x, "y": y, "w": 24, "h": 15, "i": str(i + 1)},
                       "embeddableConfig": {}, "panelRefName": ref})
        refs.append({"name": ref, "type": obj["type"], "id": obj["id"]})
    dashboard = {
        "type": "dashboard", "id": "turnpoint-model-observability", "references": refs,
        "attributes": {
            "title": "turnpoint: model observability", "description": "Every inference of the model service.",
            "panelsJSON": json.dumps(panels), "optionsJSON": json.dumps({"useMargins": True, "hidePanelTitles": False}),
            "timeRestore": True, "timeFrom": "now-30d", "timeTo": "now", "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"},
                                                                      "filter": []})},
        },
    }
    return [*data_views, *vis, flagged, dashboard]


def render() -> str:
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects())


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
