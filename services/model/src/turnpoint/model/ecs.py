"""One ECS document per inference (the index template in elastic/ maps these fields).

ECS top level: `@timestamp`, `ecs.version`, `event.*` (dataset `turnpoint.inference`, duration in ns),
`service.*`, `trace.id`. Everything turnpoint-specific lives under `turnpoint.*`:

    turnpoint.log_version         1 (bumped with the index template's version)
    turnpoint.model.{name,version,kind}
    turnpoint.source              http | stream
    turnpoint.target, .asof, .horizon
    turnpoint.batch.{id,size,index}
    turnpoint.input.{values,last,count}      raw inputs (closes / readings)
    turnpoint.features                       the scaled inputs the network saw (intermediate)
    turnpoint.output.values                  forecast closes | [score, threshold, flagged]
    turnpoint.output.step_returns            per-step log returns of the forecast (intermediate)
    turnpoint.output.h1 .. h5                forecast per horizon (for charts)
    turnpoint.anomaly.{score,threshold,flagged,step_errors}
    turnpoint.realised.{asof,predicted,actual,error,abs_pct_error}   the previous h1 forecast vs this close
    turnpoint.latency_ms

Array-valued fields may hold numpy rows; serialise documents with `dumps` (orjson, numpy enabled).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import socket
import uuid
from typing import Any

import numpy as np
import orjson

ECS_VERSION = "8.11.0"
DATASET = "turnpoint.inference"
LOG_VERSION = 1
_HOST = socket.gethostname()


def service_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("turnpoint-model")
    except PackageNotFoundError:
        return "0"


_SERVICE_VERSION = service_version()


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_trace_id() -> str:
    return uuid.uuid4().hex


def stable_id(*parts: str) -> str:
    """A 32-hex id that is the same for a redelivered record (idempotent documents and trace ids)."""
    return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()


def trace_from_traceparent(header: str | None) -> str | None:
    """The trace id of a W3C `traceparent` header (`00-<32 hex>-<16 hex>-<2 hex>`), if well-formed."""
    if not header:
        return None
    parts = header.strip().split("-")
    if len(parts) == 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
        try:
            int(parts[1], 16)
        except ValueError:
            return None
        return parts[1].lower()
    return None


def _static(environment: str, service: str) -> dict[str, Any]:
    """The parts every document of a batch shares (the same objects: serialisers only read them)."""
    return {
        "ecs": {"version": ECS_VERSION},
        "service": {"name": service, "type": "model", "version": _SERVICE_VERSION, "environment": environment},
        "host": {"name": _HOST},
    }


def _event(event_id: str, action: str, duration_ns: int, category: list[str], types: list[str]) -> dict[str, Any]:
    """`category` and `types` are one pair of lists per batch (fewer objects for the collector)."""
    return {
        "id": event_id, "kind": "event", "category": category, "type": types, "dataset": DATASET,
        "module": "turnpoint", "action": action, "duration": duration_ns, "outcome": "success",
    }


def forecast_docs(
    *, model: str, version: str, targets: list[str], asofs: list[str | None], closes: np.ndarray, out: dict[str, np.ndarray],
    trace_ids: list[str], event_ids: list[str], source: str, duration_ns: int, batch_id: str,
    realised: list[dict[str, Any] | None] | None = None, environment: str = "development",
    service: str = "turnpoint-model",
) -> list[dict[str, Any]]:
    now = iso(dt.datetime.now(dt.UTC))
    # Arrays stay numpy rows: orjson (OPT_SERIALIZE_NUMPY) writes them without Python floats in between.
    inputs, feats, steps = closes, out["features"], out["step_returns"]
    lasts = closes[:, -1].tolist()
    values = out["forecast"].tolist()
    n = len(targets)
    latency = duration_ns / 1e6
    static = _static(environment, service)
    width = closes.shape[1]
    keys = [f"h{h + 1}" for h in range(out["forecast"].shape[1])]
    # Shared by the batch's documents (read-only for the serialisers), so each record allocates less.
    model_info = {"name": model, "version": version, "kind": "forecast"}
    category, types = ["process"], ["info"]
    docs = []
    for i in range(n):
        v = values[i]
        output = {"values": v, "step_returns": steps[i]}
        output.update(zip(keys, v, strict=False))
        tp: dict[str, Any] = {
            "log_version": LOG_VERSION, "model": model_info,
            "source": source, "target": targets[i], "asof": asofs[i], "horizon": len(v),
            "batch": {"id": batch_id, "size": n, "index": i},
            "input": {"values": inputs[i], "last": lasts[i], "count": width},
            "features": feats[i], "output": output, "latency_ms": latency,
        }
        if realised is not None and realised[i] is not None:
            tp["realised"] = realised[i]
        event = _event(event_ids[i], "forecast", duration_ns, category, types)
        docs.append({"@timestamp": now, **static, "event": event, "trace": {"id": trace_ids[i]}, "turnpoint": tp})
    return docs


def anomaly_docs(
    *, model: str, version: str, threshold: float, targets: list[str], asofs: list[str | None], values: np.ndarray,
    out: dict[str, np.ndarray], trace_ids: list[str], event_ids: list[str], source: str, duration_ns: int,
    batch_id: str, environment: str = "development", service: str = "turnpoint-model",
) -> list[dict[str, Any]]:
    now = iso(dt.datetime.now(dt.UTC))
    inputs, feats, errs = values, out["features"], out["step_errors"]
    lasts = values[:, -1].tolist()
    scores = out["score"].tolist()
    width = values.shape[1]
    n = len(targets)
    latency = duration_ns / 1e6
    static = _static(environment, service)
    model_info = {"name": model, "version": version, "kind": "anomaly"}
    category, types = ["process"], ["info"]
    docs = []
    for i in range(n):
        flagged = scores[i] > threshold
        tp = {
            "log_version": LOG_VERSION, "model": model_info,
            "source": source, "target": targets[i], "asof": asofs[i], "horizon": 0,
            "batch": {"id": batch_id, "size": n, "index": i},
            "input": {"values": inputs[i], "last": lasts[i], "count": width},
            "features": feats[i],
            "output": {"values": [scores[i], threshold, 1.0 if flagged else 0.0]},
            "anomaly": {"score": scores[i], "threshold": threshold, "flagged": flagged, "step_errors": errs[i]},
            "latency_ms": latency,
        }
        docs.append({"@timestamp": now, **static, "event": _event(event_ids[i], "anomaly-score", duration_ns, category, types),
                     "trace": {"id": trace_ids[i]}, "turnpoint": tp})
    return docs
