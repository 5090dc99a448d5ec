"""Record contracts: the JSON values on every turnpoint topic (schema version 1).

Every message value is an envelope ``{"v": 1, "items": [...]}`` whose items all share the message key
(a series, a symbol, a camera, a model). One item per message is the common case for live data;
backfills and replays put many items in one message so that the whole pipeline moves batches.
Validation is strict at every boundary: unknown fields are rejected, timestamps must carry an offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

# The plain half (names, limits, checks) lives in `limits`, which needs no pydantic; re-exported here.
from turnpoint.core.limits import CAMERA_MAX as CAMERA_MAX
from turnpoint.core.limits import COUNT_SERIES as COUNT_SERIES
from turnpoint.core.limits import GTYPES as GTYPES
from turnpoint.core.limits import LABEL_MAX as LABEL_MAX
from turnpoint.core.limits import MAX_DATE as MAX_DATE
from turnpoint.core.limits import MAX_YEAR as MAX_YEAR
from turnpoint.core.limits import MIN_DATE as MIN_DATE
from turnpoint.core.limits import MIN_YEAR as MIN_YEAR
from turnpoint.core.limits import PERIODS as PERIODS
from turnpoint.core.limits import SERIES_MAX as SERIES_MAX
from turnpoint.core.limits import SYMBOL_MAX as SYMBOL_MAX
from turnpoint.core.limits import SYMBOL_PATTERN as SYMBOL_PATTERN
from turnpoint.core.limits import UNIT_MAX as UNIT_MAX
from turnpoint.core.limits import Direction as Direction
from turnpoint.core.limits import GType as GType
from turnpoint.core.limits import Interval as Interval
from turnpoint.core.limits import Period as Period
from turnpoint.core.limits import check_date as check_date
from turnpoint.core.limits import check_instant as check_instant
from turnpoint.core.limits import check_text as check_text

SCHEMA_VERSION = 1



def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _iso_text(kind: type[dt.date], example: str) -> Any:
    """Dates and instants arrive as ISO-8601 text (or as `kind` from Python code), never as numbers: pydantic
    would read 1700000000, "1700000000" (and true) as a Unix time, which has no offset (SPEC 2)."""

    def check(value: object) -> object:
        if isinstance(value, kind):
            return value
        if isinstance(value, str) and ((value[4:5] == "-" and value[:4].isdigit()) or not _numeric(value)):
            return value  # the common "YYYY-..." first: no float() attempt
        msg = f"expected ISO-8601 text like {example}, got {type(value).__name__} {str(value)[:40]!r}"
        raise ValueError(msg)

    return BeforeValidator(check)


AwareDatetime = Annotated[dt.datetime, _iso_text(dt.datetime, "2025-01-31T09:00:00+09:00"), AfterValidator(check_instant)]
"""An instant: ISO-8601 text with an offset in the years 1000-2999, normalised to UTC."""
Date = Annotated[dt.date, _iso_text(dt.date, "2025-01-31"), AfterValidator(check_date)]
"""A calendar date: ISO-8601 text (YYYY-MM-DD) in the years 1000-2999."""
Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
"""A JSON number (an int or a float, never a string or a boolean), finite."""
Price = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Volume = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
Whole = Annotated[int, Field(strict=True, ge=0)]
"""A JSON integer >= 0 (not 3.0, not "3", not true)."""
Text = Annotated[str, AfterValidator(check_text)]
SeriesName = Annotated[str, Field(min_length=1, max_length=SERIES_MAX), AfterValidator(check_text)]
CameraName = Annotated[str, Field(min_length=1, max_length=CAMERA_MAX), AfterValidator(check_text)]
SymbolName = Annotated[str, Field(min_length=1, max_length=SYMBOL_MAX, pattern=SYMBOL_PATTERN)]
Label = Annotated[str, Field(max_length=LABEL_MAX), AfterValidator(check_text)]
Unit = Annotated[str, Field(max_length=UNIT_MAX), AfterValidator(check_text)]


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Reading(Item):
    """A sensor reading. Identified by (series, ts)."""

    series: SeriesName
    ts: AwareDatetime
    value: Finite
    unit: Unit | None = None
    source: Label | None = None


class Bar(Item):
    """A daily market bar. Identified by (symbol, date); a later bar for the same key revises it."""

    symbol: SymbolName
    date: Date
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume = 0.0
    source: Label | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Bar:
        if self.high < self.low:
            msg = f"high {self.high} < low {self.low}"
            raise ValueError(msg)
        return self


class Count(Item):
    """People/vehicle counts of one camera over one period (posted by the CCTV team)."""

    camera: CameraName
    period_start: AwareDatetime
    period_end: AwareDatetime
    people: Whole
    vehicle: Whole

    @model_validator(mode="after")
    def _ordered(self) -> Count:
        if self.period_end <= self.period_start:
            msg = "period_end must be after period_start"
            raise ValueError(msg)
        return self


class SymbolInfo(Item):
    """Symbol metadata (the legacy company/state tables)."""

    symbol: SymbolName
    name: Label = ""
    market: Label = ""
    status: Literal["listed", "delisted", "suspended"] = "listed"
    designations: Annotated[list[Label], Field(max_length=64)] = Field(default_factory=list)


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
    truncated: bool = False  # the payload holds only the first bytes of the original (see original_size)
    original_size: int | None = None  # bytes of the original value


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def item_json(item: BaseModel) -> dict[str, Any]:
    return item.model_dump(mode="json", exclude_none=False)
