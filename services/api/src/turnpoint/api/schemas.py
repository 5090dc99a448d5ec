"""Response models: they document the API (OpenAPI at /docs); handlers return orjson bytes directly.

Instants are ISO-8601 UTC with `Z`; dates are ISO-8601 calendar dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as `cursor` to get the next page; null on the last page")


class BarOut(BaseModel):
    start: dt.date
    end: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int


class LegOut(BaseModel):
    symbol: str
    gtype: str
    start_date: dt.date
    start_value: float
    end_date: dt.date
    end_value: float
    bars: int
    change: float
    pct: float = Field(description="percent change (5.0 = 5 %): (end_value / start_value - 1) * 100")
    direction: Literal["up", "down"]


class StateOut(BaseModel):
    symbol: str
    gtype: str
    threshold: float = Field(description="reversal threshold as a fraction (0.05 = 5 %), unlike the pct fields")
    direction: Literal["none", "up", "down"]
    pivot_date: dt.date
    pivot_value: float
    extreme_date: dt.date
    extreme_value: float
    last_date: dt.date
    last_value: float
    bars_since_pivot: int
    pct_from_pivot: float = Field(description="percent (5.0 = 5 %) from the pivot to the last value")
    pct_from_extreme: float = Field(description="percent (5.0 = 5 %) from the extreme to the last value")
    updated_at: dt.datetime | None


class LegCount(BaseModel):
    legs: int
    mean_pct: float | None = Field(description="mean pct of those legs, in percent (5.0 = 5 %)")


class WindowOut(BaseModel):
    symbol: str
    gtype: str
    days: int
    trading_days: int = Field(description="trading days found (fewer than `days` for a young symbol)")
    from_: dt.date = Field(alias="from")
    to: dt.date
    up: LegCount
    down: LegCount


class StatOut(BaseModel):
    series: str
    period: str
    start: dt.date = Field(description="local start date of the period in the time zone `tz`")
    weekday: int | None = Field(description="ISO weekday 1..7 for *-weekday periods, else null")
    count: int
    mean: float
    std: float
    min: float
    max: float
    tz: str
    unit: str | None = Field(description="unit of the series' latest reading, null when it has none")


class StatsPage(Page[StatOut]):
    tz: str = Field(description="IANA time zone of the calendar keys (`start`)")


class OutlierOut(BaseModel):
    series: str
    ts: dt.datetime
    value: float
    mean: float
    std: float
    direction: Literal["high", "low"]
    k: float
    window_days: int
    unit: str | None = Field(description="unit of the series' latest reading, null when it has none")


class ReadingOut(BaseModel):
    series: str
    ts: dt.datetime
    value: float
    unit: str | None


class LatestReading(BaseModel):
    ts: dt.datetime
    value: float
    unit: str | None


class SeriesOut(BaseModel):
    series: str
    latest: LatestReading


class AnomalyValues(BaseModel):
    score: float = Field(description="the model's anomaly score of the reading at `asof`")
    threshold: float = Field(description="the model version's threshold: flagged when score > threshold")
    flagged: bool


class ForecastStep(BaseModel):
    trading_days_ahead: int = Field(description="1 = the next trading day (day with a bar) after `asof`")
    value: float = Field(description="forecast close")


class PredictionOut(BaseModel):
    model: str
    version: str
    kind: Literal["forecast", "anomaly"]
    target: str
    asof: dt.datetime
    horizon: int = Field(description="forecast horizon in trading days (0 for anomaly scores)")
    values: AnomalyValues | list[ForecastStep] = Field(
        description="anomaly: {score, threshold, flagged}; forecast: one step per trading day ahead")
    trace_id: str | None


class JobOut(BaseModel):
    job: str
    status: str
    last_success: dt.datetime | None
    rows: int | None
    detail: str | None
    updated_at: dt.datetime | None
    age_seconds: float | None = Field(description="seconds since last_success")
    max_age_seconds: float | None = Field(default=None, description="TURNPOINT_API__JOBS_MAX_AGE_S")
    stale: bool = Field(default=False, description="no success within max_age_seconds")


class AlertOut(BaseModel):
    id: str
    rule: str
    kind: str
    status: str = Field(description="firing or resolved (a resolution shares the id of what it resolves)")
    subject: str
    at: dt.datetime = Field(description="the event's own time")
    value: float | None
    message: str
    details: dict[str, Any]
    delivery: str = Field(description="pending (retried, never dropped), delivered or suppressed (cooldown)")
    attempts: int
    first_attempt_at: dt.datetime | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    last_error: str | None
    last_response: int | None


class LatestBar(BaseModel):
    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float


class SymbolState(BaseModel):
    gtype: str
    direction: Literal["none", "up", "down"]
    pivot_date: dt.date
    pivot_value: float
    extreme_date: dt.date
    extreme_value: float
    last_date: dt.date
    last_value: float
    bars_since_pivot: int
    pct_from_pivot: float
    pct_from_extreme: float


class SymbolRow(BaseModel):
    symbol: str
    name: str | None
    market: str | None
    status: str | None
    designations: list[str] | None
    bar: LatestBar | None = Field(description="the latest daily bar")
    state: SymbolState | None = Field(description="current rebound state for the requested gtype")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
