"""Batched inference with logging: the one code path behind the HTTP endpoint and the stream worker.

Each call runs one onnxruntime session call over the whole batch, then writes one ECS document per
record to the inference log and returns values tagged with the model version that computed them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from turnpoint.model import ecs, metrics
from turnpoint.model.errors import InvalidInput
from turnpoint.model.runtime import LoadedModel, ModelStore
from turnpoint.model.sinks import InferenceLog


@dataclass(frozen=True, slots=True)
class BatchResult:
    model: str
    version: str
    kind: str
    horizon: int
    values: list[list[float]]  # per record: forecast closes | [score, threshold, flagged]
    trace_ids: list[str]
    extra: dict[str, list[Any]]  # per-record intermediates returned to HTTP callers


def check_windows(x: np.ndarray, width: int, *, positive: bool, field: str) -> np.ndarray:
    """Validate a [N, >= width] float matrix; keep the last `width` columns. Raises InvalidInput."""
    if x.ndim != 2 or x.shape[1] < width:
        msg = f"each item needs at least {width} values in '{field}' (oldest first), got {x.shape[-1] if x.ndim else 0}"
        raise InvalidInput(msg, field=field)
    x = x[:, -width:]
    bad = ~np.isfinite(x).all(axis=1)
    if positive:
        bad |= (x <= 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = "finite numbers > 0" if positive else "finite numbers"
        msg = f"item {i}: '{field}' must hold {what}"
        raise InvalidInput(msg, item=i, field=field)
    return x.astype(np.float32, copy=False)


class Predictor:
    def __init__(self, store: ModelStore, log: InferenceLog, *, environment: str = "development",
                 service: str = "turnpoint-model") -> None:
        self.store, self.log, self.environment, self.service = store, log, environment, service

    def forecast(
        self, targets: Sequence[str], asofs: Sequence[str | None], closes: np.ndarray, *, source: str,
        trace_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
        realise: Callable[[list[list[float]]], list[dict[str, Any] | None]] | None = None,
        model: LoadedModel | None = None,
    ) -> BatchResult:
        """`realise`, given the forecasts, returns per record the previous forecast vs this close (or None)."""
        m = model or self.store.require("forecast")
        t0 = time.perf_counter_ns()
        x = check_windows(np.asarray(closes, dtype=np.float64), m.width, positive=True, field="closes")
        out = m.run(x)
        duration = time.perf_counter_ns() - t0
        traces, events = self._ids(len(targets), trace_ids, event_ids)
        values = out["forecast"].astype(float).tolist()
        docs = ecs.forecast_docs(
            model=m.name, version=m.version, targets=list(targets), asofs=list(asofs), closes=x, out=out,
            trace_ids=traces, event_ids=events, source=source, duration_ns=duration, batch_id=uuid.uuid4().hex,
            realised=realise(values) if realise else None, environment=self.environment, service=self.service,
        )
        self._account(m, source, len(targets), duration)
        self.log.emit(m.name, docs)
        return BatchResult(m.name, m.version, "forecast", m.horizon, values, traces,
                           {"step_returns": out["step_returns"].astype(float).tolist()})

    def score(
        self, targets: Sequence[str], asofs: Sequence[str | None], values: np.ndarray, *, source: str,
        trace_ids: Sequence[str] | None = None, event_ids: Sequence[str] | None = None,
        model: LoadedModel | None = None,
    ) -> BatchResult:
        m = model or self.store.require("anomaly")
        t0 = time.perf_counter_ns()
        x = check_windows(np.asarray(values, dtype=np.float64), m.width, positive=False, field="values")
        out = m.run(x)
        duration = time.perf_counter_ns() - t0
        traces, events = self._ids(len(targets), trace_ids, event_ids)
        threshold = m.threshold
        docs = ecs.anomaly_docs(
            model=m.name, version=m.version, threshold=threshold, targets=list(targets), asofs=list(asofs),
            values=x, out=out, trace_ids=traces, event_ids=events, source=source, duration_ns=duration,
            batch_id=uuid.uuid4().hex, environment=self.environment, service=self.service,
        )
        self._account(m, source, len(targets), duration)
        self.log.emit(m.name, docs)
        scores = out["score"].astype(float).tolist()
        return BatchResult(
            m.name, m.version, "anomaly", 0, [[s, threshold, 1.0 if s > threshold else 0.0] for s in scores], traces,
            {"step_errors": out["step_errors"].astype(float).tolist()},
        )

    @staticmethod
    def _ids(n: int, trace_ids: Sequence[str] | None, event_ids: Sequence[str] | None) -> tuple[list[str], list[str]]:
        traces = list(trace_ids) if trace_ids is not None else [ecs.new_trace_id()] * n
        if event_ids is not None:
            events = list(event_ids)
        else:
            batch = uuid.uuid4().hex
            events = [f"{batch}-{i}" for i in range(n)]
        return traces, events

    @staticmethod
    def _account(m: LoadedModel, source: str, n: int, duration_ns: int) -> None:
        metrics.INFERENCES.labels(m.name, m.version, source).inc(n)
        metrics.BATCH_SECONDS.labels(m.name, source).observe(duration_ns / 1e9)
        metrics.BATCH_SIZE.labels(m.name, source).observe(n)
