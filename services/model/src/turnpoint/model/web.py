"""The model service's HTTP API (FastAPI): on-demand inference, model status, health and metrics.

    POST /v1/predict/forecast   {"items": [{"target": "005930", "asof": "...Z", "closes": [21+ closes]}]}
    POST /v1/predict/anomaly    {"items": [{"target": "sensor/1", "asof": "...Z", "values": [32+ readings]}]}
    GET  /v1/models             served versions and their cards' backtest summaries
    POST /v1/models/reload      load newer registry versions now (the watcher also does it every few seconds)
    GET  /healthz (liveness), GET /readyz (readiness: the stream worker runs), GET /metrics

Errors are problem+json (RFC 9457). Bodies are parsed and validated by pydantic-core straight from bytes.
Routes get the predictor, the caller's trace and the validated body as `Annotated` aliases (`model.deps`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
import orjson
from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from fastapi_offline import FastAPIOffline  # Swagger UI and ReDoc served locally (no CDN)
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from turnpoint.core.same_origin import SameOriginPages
from turnpoint.model import ecs, metrics
from turnpoint.model.deps import Pred, Trace, body
from turnpoint.model.errors import InvalidInput, ModelUnavailable
from turnpoint.model.predictor import BatchResult, Predictor
from turnpoint.web.fastapi import health_router, install_problems
from turnpoint.web.problems import PROBLEM_JSON, FieldError, ProblemError

PROBLEM = PROBLEM_JSON
INLINE_ITEMS = 64  # larger batches run on the thread pool so the event loop keeps serving small requests

Target = Annotated[str, Field(min_length=1, max_length=200)]


class ForecastItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Target = "adhoc"
    asof: AwareDatetime | None = None
    closes: list[float] = Field(min_length=2, max_length=5000, description="daily closes, oldest first, > 0")


class AnomalyItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: Target = "adhoc"
    asof: AwareDatetime | None = None
    values: list[float] = Field(min_length=2, max_length=5000, description="readings, oldest first; the last is scored")


class ForecastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[ForecastItem] = Field(min_length=1)


class AnomalyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[AnomalyItem] = Field(min_length=1)


ForecastBody = Annotated[ForecastRequest, Depends(body(ForecastRequest))]
AnomalyBody = Annotated[AnomalyRequest, Depends(body(AnomalyRequest))]


def _count(status: int) -> None:
    metrics.HTTP_ERRORS.labels(str(status)).inc()


def _invalid(exc: InvalidInput) -> ProblemError:
    errors: list[FieldError] = [{"field": f"items.{exc.item}.{exc.field}", "message": exc.detail}]
    return ProblemError(422, "Invalid input", exc.detail, errors=errors)


def _unavailable(exc: ModelUnavailable) -> ProblemError:
    return ProblemError(503, "Model unavailable", str(exc), {"Retry-After": "5"})


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def _body_schema(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


def _matrix(rows: list[list[float]], width: int, field: str) -> np.ndarray:
    for i, row in enumerate(rows):
        if len(row) < width:
            msg = f"item {i}: '{field}' needs at least {width} values (oldest first), got {len(row)}"
            raise InvalidInput(msg, item=i, field=field)
    return np.array([row[-width:] for row in rows], dtype=np.float64)


def _items(result: BatchResult, targets: list[str], asofs: list[str], extra_key: str) -> dict[str, Any]:
    extra = result.extra[extra_key]
    return {
        "model": result.model, "version": result.version, "kind": result.kind, "horizon": result.horizon,
        "items": [
            {"target": t, "asof": a, "values": v, extra_key: e, "trace_id": tr}
            for t, a, v, e, tr in zip(targets, asofs, result.values, extra, result.trace_ids, strict=True)
        ],
    }


def create_app(predictor: Predictor, health: Callable[[], tuple[bool, dict[str, Any]]], max_items: int = 10_000) -> FastAPI:
    app = FastAPIOffline(title="turnpoint model service", version=ecs.service_version(),
                  description="On-demand inference with the registry's ONNX models; every inference is logged (ECS).")

    app.state.predictor = predictor
    app.state.max_items = max_items
    install_problems(app, "model", on_problem=_count, invalid_title="Invalid request body",
                     translate={InvalidInput: _invalid, ModelUnavailable: _unavailable})

    @app.post("/v1/predict/forecast", openapi_extra=_body_schema(ForecastRequest), operation_id="predict_forecast",
              summary="Forecast the next closes of each window")
    async def predict_forecast(predictor: Pred, trace: Trace, req: ForecastBody) -> Response:
        model = predictor.store.require("forecast")
        targets = [it.target for it in req.items]
        asofs = [ecs.iso(it.asof) if it.asof else "" for it in req.items]
        closes = _matrix([it.closes for it in req.items], model.width, "closes")
        args = (targets, [a or None for a in asofs], closes)

        def run() -> BatchResult:
            return predictor.forecast(*args, source="http", trace_ids=[trace] * len(targets), model=model)

        result = run() if len(targets) <= INLINE_ITEMS else await run_in_threadpool(run)
        return _json(_items(result, targets, asofs, "step_returns"))

    @app.post("/v1/predict/anomaly", openapi_extra=_body_schema(AnomalyRequest), operation_id="predict_anomaly",
              summary="Score the last reading of each window")
    async def predict_anomaly(predictor: Pred, trace: Trace, req: AnomalyBody) -> Response:
        model = predictor.store.require("anomaly")
        targets = [it.target for it in req.items]
        asofs = [ecs.iso(it.asof) if it.asof else "" for it in req.items]
        values = _matrix([it.values for it in req.items], model.width, "values")

        def run() -> BatchResult:
            return predictor.score(targets, [a or None for a in asofs], values, source="http",
                                   trace_ids=[trace] * len(targets), model=model)

        result = run() if len(targets) <= INLINE_ITEMS else await run_in_threadpool(run)
        return _json(_items(result, targets, asofs, "step_errors"))

    @app.get("/v1/models", summary="Served models, versions and backtest summaries", operation_id="list_models")
    async def models(predictor: Pred) -> Response:
        out = predictor.store.status()
        for kind, info in out.items():
            m = predictor.store.get(kind)
            if m is not None:
                info["summary"] = m.card.get("summary")
                info["backtest"] = m.card.get("backtest")
                info["training_data"] = m.card.get("training_data")
        return _json(out)

    @app.post("/v1/models/reload", summary="Load newer registry versions now", operation_id="reload_models")
    async def reload(predictor: Pred) -> Response:
        changed = await run_in_threadpool(predictor.store.refresh)
        return _json({"reloaded": changed, "models": predictor.store.status()})

    async def ready(_request: Request) -> tuple[bool, dict[str, Any]]:
        return health()

    def live(_request: Request) -> dict[str, Any]:
        detail = health()[1]
        return {"models": detail["models"], "degraded": detail["degraded"]}

    app.include_router(health_router("model", ready, live))

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(SameOriginPages)  # Swagger UI and ReDoc load nothing from another host
    return app

