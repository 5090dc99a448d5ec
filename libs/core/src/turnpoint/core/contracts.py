"""Record contracts: the JSON values on every turnpoint topic (schema version 1).

Every message value is an envelope ``{"v": 1, "items": [...]}`` whose items all share the message key
(a series, a symbol, a camera, a model). One item per message is the common case for live data;
backfills and replays put many items in one message so that the whole pipeline moves batches.
Validation is strict at every boundary: unknown fields are rejected, timestamps must carry an offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

GType = Literal["open", "high", "low", "close"]
GTYPES: tuple[GType, ...] = ("open", "high", "low", "close")
Period = Literal["day", "week", "month", "year", "month-weekday", "year-weekday"]
PERIODS: tuple[Period, ...] = ("day", "week", "month", "year", "month-weekday", "year-weekday")
Interval = Literal["day", "week", "month"]
Direction = Literal["up", "down"]


def _aware(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = "timestamp has no UTC offset; send ISO-8601 with an offset or Z"
        raise ValueError(msg)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 lies before the first representable instant
        msg = "timestamp is outside the representable range once converted to UTC"
        raise ValueError(msg) from None


AwareDatetime = Annotated[dt.datetime, AfterValidator(_aware)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Price = Annotated[float, Field(gt=0, allow_inf_nan=False)]
SeriesName = Annotated[str, Field(min_length=1, max_length=200)]
SymbolName = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._^=\-]+$")]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reading(Item):
    """A sensor reading. Identified by (series, ts)."""

    series: SeriesName
    ts: AwareDatetime
    value: Finite
    unit: str | None = None
    source: str | None = None


class Bar(Item):
    """A daily market bar. Identified by (symbol, date); a later bar for the same key revises it."""

    symbol: SymbolName
    date: dt.date
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Annotated[float, Field(ge=0)] = 0.0
    source: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.high < self.low:
            msg = f"high {self.high} < low {self.low}"
            raise ValueError(msg)
        return self


class Count(Item):
    """People/vehicle counts of one camera over one period (posted by the CCTV team)."""

    camera: SeriesName
    period_start: AwareDatetime
    period_end: AwareDatetime
    people: Annotated[int, Field(ge=0)]
    vehicle: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> Count:
        if self.period_end <= self.period_start:
            msg = "period_end must be after period_start"
            raise ValueError(msg)
        return self


class SymbolInfo(Item):
    """Symbol metadata (the legacy company/state tables)."""

    symbol: SymbolName
    name: str = ""
    market: str = ""
    status: Literal["listed", "delisted", "suspended"] = "listed"
    designations: list[str] = Field(default_factory=list)


class PriceBar(Item):
    """A validated bar of one interval: daily bars as received, weekly/monthly aggregated."""

    symbol: SymbolName
    interval: Interval
    start: dt.date
    end: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float
    bars: int


class StatRow(Item):
    """Absolute calendar statistics of one (series, period, start, weekday); upsert, never add."""

    series: SeriesName
    period: Period
    start: dt.date
    weekday: int | None = Field(default=None, ge=1, le=7)
    count: int
    mean: float
    std: float
    min: float
    max: float
    tz: str


class Outlier(Item):
    series: SeriesName
    ts: AwareDatetime
    value: float
    mean: float
    std: float
    direction: Literal["high", "low"]
    k: float
    window_days: int


class Leg(Item):
    """A confirmed zigzag leg; ``deleted`` withdraws a leg a revision invalidated."""

    symbol: SymbolName
    gtype: GType
    start_date: dt.date
    start_value: float
    end_date: dt.date
    end_value: float
    bars: int
    change: float
    pct: float
    direction: Direction
    deleted: bool = False


class ReboundState(Item):
    symbol: SymbolName
    gtype: GType
    threshold: float
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


class Prediction(Item):
    model: str
    version: str
    kind: Literal["forecast", "anomaly"]
    target: SeriesName
    asof: AwareDatetime
    horizon: int = Field(ge=0)
    values: list[float]
    trace_id: str


class InferenceLog(Item):
    """One ECS document per inference; free-form below the ECS top level."""

    model_config = ConfigDict(extra="allow", frozen=True)


class JobInfo(Item):
    """Freshness of one job/stream: the legacy 'info' table."""

    job: str
    status: Literal["ok", "error", "running"]
    last_success: AwareDatetime | None = None
    rows: int = 0
    detail: str = ""


class DeadLetter(Item):
    """A record that could not be processed, with why and where it came from. Never dropped."""

    reason: str
    detail: str
    service: str
    source_topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str
    payload_encoding: Literal["utf-8", "base64"] = "utf-8"
    at: AwareDatetime


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def item_json(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=False)
