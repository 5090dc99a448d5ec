"""Per-symbol reads: bars, rebound legs, current state, window summary, predictions."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from turnpoint.api import schemas as s
from turnpoint.api.params import (
    DEFAULT_LIMIT,
    NO_NUL,
    Cursor,
    FromDate,
    FromInstant,
    GTypeParam,
    IntervalParam,
    Limit,
    Symbol,
    ToDate,
    ToInstant,
    instant_bound,
)
from turnpoint.api.repository import symbol_page
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Repo, Settings
from turnpoint.api.symbol_list import Order, SortName, SymbolFilter

router = APIRouter(prefix="/v1/symbols", tags=["symbols"])


@router.get("", response_model=s.Page[s.SymbolRow], summary="Symbols with latest bar and rebound state")
async def symbols(
    repo: Repo,
    gtype: Annotated[GTypeParam, Query(description="the graph type whose state is shown, filtered and sorted")] = "close",
    market: Annotated[str | None, Query(max_length=64, pattern=NO_NUL)] = None,
    direction: Literal["none", "up", "down"] | None = None,
    min_pct: Annotated[float | None, Query(description="minimum pct_from_pivot", ge=-1e9, le=1e9)] = None,
    max_pct: Annotated[float | None, Query(description="maximum pct_from_pivot", ge=-1e9, le=1e9)] = None,
    q: Annotated[str | None, Query(max_length=64, pattern=NO_NUL, description="substring of the symbol or its name")] = None,
    sort: SortName = "symbol",
    order: Order = "asc",
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> JSONResponse:
    """The legacy main view. Rows without a value in the sort column come last."""
    f = SymbolFilter(gtype, market, direction, min_pct, max_pct, q, sort, order)
    return JSONResponse(await symbol_page(repo.db, f, limit, cursor))


@router.get("/{symbol}/bars", response_model=s.Page[s.BarOut], summary="Bars of one interval")
async def bars(repo: Repo, symbol: Symbol, interval: IntervalParam = "day", from_: FromDate = None,
               to: ToDate = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    return JSONResponse(await repo.bars(symbol, interval, from_, to, limit, cursor))


@router.get("/{symbol}/rebounds", response_model=s.Page[s.LegOut], summary="Confirmed rebound legs (SPEC 1)")
async def rebounds(repo: Repo, symbol: Symbol, gtype: GTypeParam = "close", from_: FromDate = None,
                   to: ToDate = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    """Legs ordered by start_date; `from`/`to` bound the start_date."""
    return JSONResponse(await repo.legs(symbol, gtype, from_, to, limit, cursor))


@router.get("/{symbol}/rebounds/summary", response_model=s.WindowOut, summary="Window summary (SPEC 1)")
async def summary(repo: Repo, symbol: Symbol, gtype: GTypeParam = "close",
                  days: Annotated[int, Query(ge=1, le=10000, description="trading days in the window")] = 7,
                  ) -> JSONResponse:
    """Up and down legs that ended within the last `days` trading days, with the mean pct of each."""
    return JSONResponse(await repo.window(symbol, gtype, days))


@router.get("/{symbol}/state", response_model=s.StateOut, summary="Current rebound state (SPEC 1)")
async def state(repo: Repo, symbol: Symbol, gtype: GTypeParam = "close") -> JSONResponse:
    return JSONResponse(await repo.state(symbol, gtype))


@router.get("/{symbol}/predictions", response_model=s.Page[s.PredictionOut], summary="Predictions for a symbol")
async def predictions(repo: Repo, settings: Settings, symbol: Symbol,
                      model: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None, from_: FromInstant = None,
                      to: ToInstant = None, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> JSONResponse:
    lo = instant_bound("from", from_, settings.zone, upper=False)
    hi = instant_bound("to", to, settings.zone, upper=True)
    result = await repo.predictions(symbol, model, lo, hi, limit, cursor)
    if not result["items"] and cursor is None:
        await repo.require_symbol(symbol)
    return JSONResponse(result)
