"""Per-series reads (series names may hold `/`, so they are query parameters)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from turnpoint.api import schemas as s
from turnpoint.api.deps import query
from turnpoint.api.params import (
    DEFAULT_LIMIT,
    NO_NUL,
    Cursor,
    FromInstant,
    Limit,
    Series,
    ToInstant,
    instant_bound,
)
from turnpoint.api.query import StatsQuery, documented
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Repo, Settings

router = APIRouter(prefix="/v1", tags=["series"])


@router.get("/stats", response_model=s.StatsPage, summary="Calendar statistics (SPEC 2)",
            openapi_extra=documented(StatsQuery))
async def stats(repo: Repo, settings: Settings, p: Annotated[StatsQuery, Depends(query(StatsQuery))],
                ) -> JSONResponse:
    """Rows by local start date (time zone in `tz`); `from`/`to` bound the start date."""
    result = await repo.stats(p.series, p.period, p.from_, p.to, p.limit, p.cursor)
    result["tz"] = settings.tz
    return JSONResponse(result)


@router.get("/outliers", response_model=s.Page[s.OutlierOut], summary="Outliers (SPEC 3)")
async def outliers(repo: Repo, settings: Settings, series: Series, from_: FromInstant = None, to: ToInstant = None,
                   limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    lo = instant_bound("from", from_, settings.zone, upper=False)
    hi = instant_bound("to", to, settings.zone, upper=True)
    return JSONResponse(await repo.outliers(series, lo, hi, limit, cursor))


@router.get("/readings", response_model=s.Page[s.ReadingOut], summary="Raw readings of a series")
async def readings(repo: Repo, settings: Settings, series: Series, from_: FromInstant = None,
                   to: ToInstant = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    lo = instant_bound("from", from_, settings.zone, upper=False)
    hi = instant_bound("to", to, settings.zone, upper=True)
    return JSONResponse(await repo.readings(series, lo, hi, limit, cursor))


@router.get("/series", response_model=s.Page[s.SeriesOut], summary="Series with their latest reading")
async def series_list(repo: Repo, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    return JSONResponse(await repo.series(limit, cursor))


@router.get("/predictions", response_model=s.Page[s.PredictionOut], summary="Predictions for a series or symbol")
async def predictions(repo: Repo, settings: Settings,
                      target: Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)],
                      model: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None, from_: FromInstant = None,
                      to: ToInstant = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    lo = instant_bound("from", from_, settings.zone, upper=False)
    hi = instant_bound("to", to, settings.zone, upper=True)
    return JSONResponse(await repo.predictions(target, model, lo, hi, limit, cursor))
