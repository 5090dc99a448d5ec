"""Per-symbol reads: bars, rebound legs, current state, window summary, predictions."""

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
    GTypeParam,
    Limit,
    Symbol,
    ToInstant,
    instant_bound,
)
from turnpoint.api.query import BarsQuery, LegsQuery, SymbolsQuery, documented
from turnpoint.api.repository import symbol_page
from turnpoint.api.responses import JSONResponse
from turnpoint.api.routes import Db, Repo, Settings
from turnpoint.api.symbol_list import SymbolFilter

router = APIRouter(prefix="/v1/symbols", tags=["symbols"])


@router.get("", response_model=s.Page[s.SymbolRow], summary="Symbols with latest bar and rebound state",
            openapi_extra=documented(SymbolsQuery))
async def symbols(db: Db, p: Annotated[SymbolsQuery, Depends(query(SymbolsQuery))]) -> JSONResponse:
    """The legacy main view. Rows without a value in the sort column come last."""
    f = SymbolFilter(p.gtype, p.market, p.direction, p.min_pct, p.max_pct, p.q, p.sort, p.order)
    return JSONResponse(await symbol_page(db, f, p.limit, p.cursor))


@router.get("/{symbol}/bars", response_model=s.Page[s.BarOut], summary="Bars of one interval",
            openapi_extra=documented(BarsQuery))
async def bars(repo: Repo, symbol: Symbol, p: Annotated[BarsQuery, Depends(query(BarsQuery))]) -> JSONResponse:
    return JSONResponse(await repo.bars(symbol, p.interval, p.from_, p.to, p.limit, p.cursor))


@router.get("/{symbol}/rebounds", response_model=s.Page[s.LegOut], summary="Confirmed rebound legs (SPEC 1)",
            openapi_extra=documented(LegsQuery))
async def rebounds(repo: Repo, symbol: Symbol, p: Annotated[LegsQuery, Depends(query(LegsQuery))]) -> JSONResponse:
    """Legs ordered by start_date; `from`/`to` bound the start_date."""
    return JSONResponse(await repo.legs(symbol, p.gtype, p.from_, p.to, p.limit, p.cursor))


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
