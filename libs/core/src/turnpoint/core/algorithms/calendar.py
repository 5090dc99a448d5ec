"""Calendar statistics (SPEC section 2) and outliers (section 3) of one series.

:class:`SeriesCalendar` is an incremental state machine over explicit, serialisable state:

- ``newest``: the newest reading instant seen; a reading older than ``newest - allowed_lateness`` is
  rejected with reason ``late`` (the caller sends it to the dead-letter topic).
- *open days*: every local day that can still change (from the local day of ``newest - lateness``
  on) keeps its raw readings ``{ts: value}``. That is the dedup state: a redelivery (same ts, same value)
  is a no-op, a different value replaces the earlier one.
- *closed days*: summaries (:mod:`moments`) of the last ``window_days`` days that can no longer change,
  kept for the outlier reference.
- *frozen periods*: for each period row that still has an open day, the summary of its closed days.

A period row is ``frozen ⊕ open days of the period``, recomputed and emitted as absolute values for every
period touched by a batch. Readings are judged for outliers when they are accepted, against the days
before theirs; in time order this is exactly the batch rule. Memory per series is bounded by the readings
of ``lateness + 1`` days plus ``window_days`` day summaries plus ~17 period summaries.
"""

from __future__ import annotations

import datetime as dt
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

import orjson

from turnpoint.core.algorithms.moments import EMPTY, Summary, merge, merge_all, std, summarize
from turnpoint.core.algorithms.outliers import OutlierRule
from turnpoint.core.algorithms.periods import iso_weekday, month_bounds, week_start, year_bounds
from turnpoint.core.algorithms.records import OutlierRecord, RejectedReading, StatRecord
from turnpoint.core.limits import PERIODS

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_FORMAT = 1
_CHUNK = 4096  # readings per internal step: bounds the open days held between prunes

DAY, WEEK, MONTH, YEAR, MONTH_WD, YEAR_WD = range(6)
PeriodKey = tuple[int, int, int]
"""``(period code, start ordinal, ISO weekday or 0)``; codes index :data:`contracts.PERIODS`."""

ReadingTuple = tuple[dt.datetime | int, float]
"""``(ts, value)``: ``ts`` an aware datetime or epoch microseconds (UTC)."""


def to_micros(ts: dt.datetime | int) -> int:
    """Epoch microseconds of an aware datetime (ints pass through). Naive datetimes are refused."""
    if isinstance(ts, int):
        return ts
    if ts.tzinfo is None or ts.utcoffset() is None:
        msg = f"timestamp {ts.isoformat()} has no UTC offset"
        raise ValueError(msg)
    return (ts - EPOCH) // _US


def from_micros(us: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=us)


def period_keys(day: int) -> tuple[PeriodKey, ...]:
    """The six period rows a reading on local day ``day`` belongs to."""
    wd = iso_weekday(day)
    ms = month_bounds(day)[0]
    ys = year_bounds(day)[0]
    return (DAY, day, 0), (WEEK, week_start(day), 0), (MONTH, ms, 0), (YEAR, ys, 0), (MONTH_WD, ms, wd), (
        YEAR_WD, ys, wd)


def period_last_day(key: PeriodKey) -> int:
    code, start, _ = key
    if code == DAY:
        return start
    if code == WEEK:
        return start + 6
    if code in (MONTH, MONTH_WD):
        return month_bounds(start)[1]
    return year_bounds(start)[1]


class LocalDays:
    """Maps instants to local day ordinals in one IANA zone, caching the last two day intervals."""

    __slots__ = ("_cache", "tz")

    def __init__(self, tz: str) -> None:
        self.tz = ZoneInfo(tz)
        self._cache: list[tuple[int, int, int]] = []

    def midnight(self, day: int) -> int:
        local = dt.datetime.combine(dt.date.fromordinal(day), dt.time(), tzinfo=self.tz)
        return (local - EPOCH) // _US

    def day_of(self, us: int) -> int:
        for lo, hi, day in self._cache:
            if lo <= us < hi:
                return day
        day = from_micros(us).astimezone(self.tz).date().toordinal()
        lo, hi = self.midnight(day), self.midnight(day + 1)
        if lo <= us < hi:
            self._cache = [(lo, hi, day), *self._cache[:1]]
        return day


@dataclass(slots=True)
class CalendarUpdate:
    """What one :meth:`SeriesCalendar.apply` call changed: absolute stat rows, outliers, rejections."""

    rows: list[StatRecord] = field(default_factory=list)
    outliers: list[OutlierRecord] = field(default_factory=list)
    rejected: list[RejectedReading] = field(default_factory=list)
    accepted: int = 0
    redelivered: int = 0


class SeriesCalendar:
    """Incremental calendar statistics and outliers of one series (SPEC sections 2 and 3)."""

    __slots__ = ("_closed", "_days", "_frozen", "_open", "_ref", "_sum", "first_open", "lateness_us",
                 "newest", "rule", "series", "tz")

    def __init__(
        self,
        series: str,
        *,
        tz: str = "UTC",
        allowed_lateness: dt.timedelta = dt.timedelta(days=2),
        window_days: int = 28,
        min_count: int = 30,
        k: float = 1.5,
    ) -> None:
        if allowed_lateness < dt.timedelta(0):
            msg = "allowed_lateness must be >= 0"
            raise ValueError(msg)
        self.series = series
        self.tz = tz
        self._days = LocalDays(tz)
        self.lateness_us = allowed_lateness // _US
        self.rule = OutlierRule(window_days, min_count, k)
        self.newest: int | None = None
        self.first_open = 0  # day ordinal: days before it can no longer change
        self._open: dict[int, dict[int, float]] = {}
        self._closed: dict[int, Summary] = {}
        self._frozen: dict[PeriodKey, Summary] = {}
        self._sum: dict[int, Summary] = {}  # cache: summaries of open days
        self._ref: dict[int, Summary] = {}  # cache: outlier reference per day

    # ------------------------------------------------------------------ public
    def apply(self, readings: Iterable[ReadingTuple]) -> CalendarUpdate:
        """Apply readings ``(ts, value)`` of this series in arrival order."""
        out = CalendarUpdate()
        rows: dict[PeriodKey, StatRecord] = {}
        chunk: list[ReadingTuple] = []
        for r in readings:
            chunk.append(r)
            if len(chunk) >= _CHUNK:
                self._step(chunk, out, rows)
                chunk = []
        if chunk:
            self._step(chunk, out, rows)
        out.rows = list(rows.values())
        return out

    def rows(self) -> list[StatRecord]:
        """Current rows of every period that still has an open day (for a snapshot or a test)."""
        days = sorted(self._open)
        return [self._row(k, days) for k in sorted({k for d in days for k in period_keys(d)})]

    def to_bytes(self) -> bytes:
        return orjson.dumps([
            _FORMAT, self.series, self.tz, self.lateness_us, self.rule.window_days, self.rule.min_count,
            self.rule.k, self.newest, self.first_open,
            [[d, list(v), list(v.values())] for d, v in self._open.items()],
            [[d, *s] for d, s in self._closed.items()],
            [[*k, *s] for k, s in self._frozen.items()],
        ])

    @classmethod
    def from_bytes(cls, data: bytes | str) -> SeriesCalendar:
        doc = orjson.loads(data)
        if not isinstance(doc, list) or not doc or doc[0] != _FORMAT:
            msg = "not a SeriesCalendar state of format 1"
            raise ValueError(msg)
        _, series, tz, late, w, mc, k, newest, first_open, open_, closed, frozen = doc
        self = cls(series, tz=tz, allowed_lateness=dt.timedelta(microseconds=late), window_days=w,
                   min_count=mc, k=k)
        self.newest, self.first_open = newest, first_open
        self._open = {d: dict(zip(ts, vs, strict=True)) for d, ts, vs in open_}
        self._closed = {c[0]: _summary(c[1:]) for c in closed}
        self._frozen = {(f[0], f[1], f[2]): _summary(f[3:]) for f in frozen}
        return self

    # ----------------------------------------------------------------- private
    def _step(self, chunk: list[ReadingTuple], out: CalendarUpdate, rows: dict[PeriodKey, StatRecord]) -> None:
        touched: set[int] = set()
        rule = self.rule
        w = rule.window_days
        late = self.lateness_us
        newest = self.newest
        for ts, value in chunk:
            try:
                us = to_micros(ts)
                value = float(value)
            except (TypeError, ValueError) as exc:
                out.rejected.append(_rejected(ts, value, "invalid", str(exc)))
                continue
            if not math.isfinite(value):
                out.rejected.append(_rejected(ts, value, "invalid", f"value must be finite, got {value!r}"))
                continue
            if newest is not None and us < newest - late:
                out.rejected.append(_rejected(ts, value, "late", f"{from_micros(us).isoformat()} is more than "
                                              f"{dt.timedelta(microseconds=late)} behind the newest reading "
                                              f"{from_micros(newest).isoformat()} of {self.series!r}"))
                continue
            day = self._days.day_of(us)
            vals = self._open.get(day)
            if vals is None:
                vals = self._open[day] = {}
            old = vals.get(us)
            if old is not None and old == value:
                out.redelivered += 1
                continue
            vals[us] = value
            out.accepted += 1
            if newest is None or us > newest:
                newest = self.newest = us
            if day not in touched:
                touched.add(day)
            self._sum.pop(day, None)
            if self._ref and max(self._ref) > day:
                for d in range(day + 1, day + w + 1):
                    self._ref.pop(d, None)
            ref = self._ref.get(day)
            if ref is None:
                ref = self._ref[day] = merge_all(self._day_summary(d) for d in range(day - w, day))
            hit = rule.judge(value, ref)
            if hit is not None:
                out.outliers.append({
                    "series": self.series, "ts": from_micros(us), "value": value, "mean": hit[1],
                    "std": hit[2], "direction": hit[0], "k": rule.k, "window_days": w,
                })
        days = sorted(self._open)
        for key in {k for d in touched for k in period_keys(d)}:
            rows[key] = self._row(key, days)
        self._prune()

    def _day_summary(self, day: int) -> Summary:
        s = self._sum.get(day)
        if s is not None:
            return s
        vals = self._open.get(day)
        if vals is None:
            return self._closed.get(day, EMPTY)
        s = self._sum[day] = summarize(list(vals.values()))
        return s

    def _row(self, key: PeriodKey, days: list[int]) -> StatRecord:
        """The absolute row of ``key``; ``days`` are the open days, sorted."""
        code, start, wd = key
        last = period_last_day(key)
        s = self._frozen.get(key, EMPTY)
        for d in days[bisect_left(days, start):bisect_right(days, last)]:
            if wd == 0 or iso_weekday(d) == wd:
                s = merge(s, self._day_summary(d))
        return {
            "series": self.series, "period": PERIODS[code], "start": dt.date.fromordinal(start),
            "weekday": wd or None, "count": s[0], "mean": s[1], "std": std(s), "min": s[3], "max": s[4],
            "tz": self.tz,
        }

    def _prune(self) -> None:
        """Close the days that can no longer change; drop what no future reading can need."""
        if self.newest is None:
            return
        first_open = self._days.day_of(self.newest - self.lateness_us)
        if first_open <= self.first_open:
            return
        for day in sorted(d for d in self._open if d < first_open):
            s = self._day_summary(day)
            self._closed[day] = s
            for key in period_keys(day):
                self._frozen[key] = merge(self._frozen.get(key, EMPTY), s)
            del self._open[day]
            self._sum.pop(day, None)
        self.first_open = first_open
        keep = first_open - self.rule.window_days
        self._closed = {d: s for d, s in self._closed.items() if d >= keep}
        self._frozen = {k: s for k, s in self._frozen.items() if period_last_day(k) >= first_open}
        self._ref = {d: s for d, s in self._ref.items() if d >= first_open}


def _summary(x: list[Any]) -> Summary:
    return int(x[0]), float(x[1]), float(x[2]), float(x[3]), float(x[4])


def _rejected(ts: object, value: object, reason: str, detail: str) -> RejectedReading:
    when = from_micros(ts) if isinstance(ts, int) else ts
    return cast(RejectedReading, {"ts": when, "value": value, "reason": reason, "detail": detail})
