"""The inference log documents, byte for byte (field order included): Logstash, Kibana and `ship-logs` read them."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from turnpoint.model import ecs


def _line(doc: dict[str, Any]) -> bytes:
    """The serialised document with `@timestamp` (the clock) pinned and `service.version` (the install) fixed."""
    loaded = orjson.loads(ecs.dumps(doc))
    assert isinstance(loaded["@timestamp"], str) and loaded["@timestamp"].endswith("Z")
    loaded["@timestamp"] = "T"
    loaded["service"]["version"] = "V"
    return orjson.dumps(loaded)


def _event(event_id: str, action: str) -> dict[str, Any]:
    return {"id": event_id, "kind": "event", "category": ["process"], "type": ["info"], "dataset": "turnpoint.inference",
            "module": "turnpoint", "action": action, "duration": 2_500_000, "outcome": "success"}


def _head(event: dict[str, Any], trace: str) -> dict[str, Any]:
    return {
        "@timestamp": "T", "ecs": {"version": ecs.ECS_VERSION},
        "service": {"name": "svc", "type": "model", "version": "V", "environment": "test"},
        "host": {"name": ecs._HOST}, "event": event, "trace": {"id": trace},
    }


def test_forecast_documents_are_exactly_the_documented_shape() -> None:
    closes = np.array([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]], dtype=np.float32)
    out = {"forecast": np.array([[4.5, 5.0], [33.0, 34.0]], dtype=np.float32),
           "step_returns": np.array([[0.125, 0.25], [0.5, 0.75]], dtype=np.float32),
           "features": np.array([[0.5, 1.5], [2.5, 3.5]], dtype=np.float32)}
    realised = {"asof": "2024-01-01T00:00:00Z", "predicted": 30.0, "actual": 32.0, "error": 2.0, "abs_pct_error": 6.25}
    docs = ecs.forecast_docs(
        model="forecast-close", version="v3", targets=["A", "B"], asofs=["2024-01-02T00:00:00Z", None], closes=closes,
        out=out, trace_ids=["t1", "t2"], event_ids=["e1", "e2"], source="stream", duration_ns=2_500_000,
        batch_id="b", realised=[None, realised], environment="test", service="svc",
    )

    def want(i: int, target: str, asof: str | None, values: list[float], extra: dict[str, Any]) -> dict[str, Any]:
        tp = {
            "log_version": 1, "model": {"name": "forecast-close", "version": "v3", "kind": "forecast"},
            "source": "stream", "target": target, "asof": asof, "horizon": 2,
            "batch": {"id": "b", "size": 2, "index": i},
            "input": {"values": closes[i].tolist(), "last": float(closes[i, -1]), "count": 3},
            "features": out["features"][i].tolist(),
            "output": {"values": values, "step_returns": out["step_returns"][i].tolist(), "h1": values[0], "h2": values[1]},
            "latency_ms": 2.5, **extra,
        }
        return {**_head(_event(f"e{i + 1}", "forecast"), f"t{i + 1}"), "turnpoint": tp}

    assert [_line(d) for d in docs] == [
        orjson.dumps(want(0, "A", "2024-01-02T00:00:00Z", [4.5, 5.0], {})),
        orjson.dumps(want(1, "B", None, [33.0, 34.0], {"realised": realised})),
    ]


def test_anomaly_documents_are_exactly_the_documented_shape() -> None:
    values = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    out = {"score": np.array([0.5, 3.0], dtype=np.float32),
           "step_errors": np.array([[0.25, 0.5], [0.75, 3.0]], dtype=np.float32),
           "features": np.array([[-1.0, 1.0], [-1.0, 1.0]], dtype=np.float32)}
    docs = ecs.anomaly_docs(
        model="anomaly-reading", version="v1", threshold=2.0, targets=["s/1", "s/2"], asofs=["x", "y"], values=values,
        out=out, trace_ids=["t1", "t2"], event_ids=["e1", "e2"], source="http", duration_ns=2_500_000, batch_id="b",
        environment="test", service="svc",
    )

    def want(i: int, score: float, flagged: bool) -> dict[str, Any]:
        tp = {
            "log_version": 1, "model": {"name": "anomaly-reading", "version": "v1", "kind": "anomaly"},
            "source": "http", "target": f"s/{i + 1}", "asof": "xy"[i], "horizon": 0,
            "batch": {"id": "b", "size": 2, "index": i},
            "input": {"values": values[i].tolist(), "last": float(values[i, -1]), "count": 2},
            "features": [-1.0, 1.0],
            "output": {"values": [score, 2.0, 1.0 if flagged else 0.0]},
            "anomaly": {"score": score, "threshold": 2.0, "flagged": flagged, "step_errors": out["step_errors"][i].tolist()},
            "latency_ms": 2.5,
        }
        return {**_head(_event(f"e{i + 1}", "anomaly-score"), f"t{i + 1}"), "turnpoint": tp}

    assert [_line(d) for d in docs] == [orjson.dumps(want(0, 0.5, False)), orjson.dumps(want(1, 3.0, True))]


@pytest.mark.parametrize("builder", ["forecast", "anomaly"])
def test_batches_do_not_share_objects_with_each_other(builder: str) -> None:
    """Objects shared inside a batch (model, event lists) are new per batch: editing one batch leaves the next."""
    def batch() -> list[dict[str, Any]]:
        if builder == "forecast":
            out = {k: np.ones((1, 2), dtype=np.float32) for k in ("forecast", "step_returns", "features")}
            return ecs.forecast_docs(model="m", version="v1", targets=["A"], asofs=[None], closes=np.ones((1, 3)),
                                     out=out, trace_ids=["t"], event_ids=["e"], source="http", duration_ns=1, batch_id="b")
        out = {"score": np.ones(1), "step_errors": np.ones((1, 2)), "features": np.ones((1, 2))}
        return ecs.anomaly_docs(model="m", version="v1", threshold=2.0, targets=["A"], asofs=[None], values=np.ones((1, 2)),
                                out=out, trace_ids=["t"], event_ids=["e"], source="http", duration_ns=1, batch_id="b")

    first, second = batch()[0], batch()[0]
    first["event"]["category"].append("x")
    first["turnpoint"]["model"]["version"] = "edited"
    assert second["event"]["category"] == ["process"] and second["turnpoint"]["model"]["version"] == "v1"
