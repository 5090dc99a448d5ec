"""Calendar statistics and outliers of whole files at once (the batch commands), equal to the stream's.

:class:`~turnpoint.core.algorithms.calendar.SeriesCalendar` fed a series' distinct readings in time order
produces, for every period row, the left fold (:func:`moments.merge`, in day order) of the summaries
(:func:`moments.summarize`) of the period's days, and judges each reading against the left fold of the
summaries of the ``window_days`` days before its own (:class:`OutlierRule`). This module computes exactly
those folds, with the same functions, from columns: the de-duplication, the grouping by (series, local
day) and the time zone arithmetic are done with numpy over the whole file instead of reading by reading.
Results are equal to the streamed ones bit for bit (`tests/unit/algorithms/test_bulk.py` checks it with
hypothesis), which is what SPEC section 2 asks of the stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from turnpoint.core.algorithms.calendar import LocalDays, from_micros, period_keys
from turnpoint.core.algorithms.moments import EMPTY, Summary, merge, std, summarize
from turnpoint.core.algorithms.outliers import OutlierRule
from turnpoint.core.limits import PERIODS

_DAY_US = 86_400_000_000

StatRow = tuple[str, str, dt.date, int | None, int, float, float, float, float]
"""``(series, period, start, weekday, count, mean, std, min, max)``"""
OutlierRow = tuple[str, int, float, float, float, str]
"""``(series, ts as epoch microseconds, value, mean, std, direction)``"""


@dataclass(slots=True)
class Distinct:
    """Readings de-duplicated on (series, instant), the last one in input order winning; sorted by
    (series, instant). ``series`` names are sorted; ``code`` indexes them."""

    series: list[str]
    code: Any  # int64 array
    micros: Any  # int64 array
    value: Any  # float64 array
    duplicates: int = 0  # repeated with the same value
    replaced: int = 0  # repeated with another value (the later one counts)


@dataclass(slots=True)
class Days:
    """The distinct readings grouped by (series, local day): group ``g`` spans ``starts[g]:ends[g]``."""

    distinct: Distinct
    day: Any  # local day ordinal of each reading (int64 array), in the same order as `distinct`
    starts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    group_code: list[int] = field(default_factory=list)
    group_day: list[int] = field(default_factory=list)
    summaries: list[Summary] = field(default_factory=list)


def distinct(series: Sequence[str], micros: Sequence[int], values: Sequence[float]) -> Distinct:
    names = sorted(set(series))
    index = {s: i for i, s in enumerate(names)}
    code = np.fromiter(map(index.__getitem__, series), dtype=np.int64, count=len(series))
    us = np.array(micros, dtype=np.int64)
    val = np.array(values, dtype=np.float64)
    order = np.lexsort((us, code))  # stable: equal keys keep their input order
    code, us, val = code[order], us[order], val[order]
    same = (code[1:] == code[:-1]) & (us[1:] == us[:-1])  # row i+1 repeats row i's key
    duplicates = int((same & (val[1:] == val[:-1])).sum())
    keep = np.ones(len(us), dtype=bool)
    keep[:-1] = ~same  # the last of each key
    return Distinct(names, code[keep], us[keep], val[keep], duplicates, int(same.sum()) - duplicates)


def local_days(us: Any, tz: str) -> Any:
    """The local day ordinal in ``tz`` of each instant (epoch microseconds), as LocalDays.day_of says.

    Days whose UTC offset is one and the same from local midnight to midnight are mapped with one
    ``searchsorted`` over their midnights; instants on other days (DST changes, a midnight skipped or
    repeated) and very sparse inputs are mapped one by one.
    """
    days = LocalDays(tz)
    n = len(us)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    epoch = dt.date(1970, 1, 1).toordinal()
    first = int(us.min()) // _DAY_US + epoch - 2
    last = int(us.max()) // _DAY_US + epoch + 2
    if last - first > 4 * n + 400:
        return np.fromiter((days.day_of(int(u)) for u in us), dtype=np.int64, count=n)
    mids = [days.midnight(d) for d in range(first, last + 2)]
    regular = np.zeros(len(mids), dtype=bool)
    ok_mid = [_exact_midnight(days, m, first + k) for k, m in enumerate(mids)]
    for k in range(len(mids) - 1):
        if ok_mid[k] and ok_mid[k + 1]:
            a = from_micros(mids[k]).astimezone(days.tz).utcoffset()
            b = from_micros(mids[k + 1] - 1).astimezone(days.tz).utcoffset()
            regular[k] = a == b
    idx = np.searchsorted(np.array(mids, dtype=np.int64), us, side="right") - 1
    out = idx + first
    odd = np.flatnonzero(~regular[np.clip(idx, 0, len(mids) - 1)] | (idx < 0))
    for i in odd.tolist():
        out[i] = days.day_of(int(us[i]))
    return out


def _exact_midnight(days: LocalDays, us: int, day: int) -> bool:
    """``us`` is the one instant at which local time is ``day`` 00:00 (it exists and is not repeated)."""
    local = from_micros(us).astimezone(days.tz)
    if local.date().toordinal() != day or local.time() != dt.time():
        return False
    naive = local.replace(tzinfo=None)
    return bool(naive.replace(tzinfo=days.tz, fold=1).utcoffset() == naive.replace(tzinfo=days.tz).utcoffset())


def group_days(d: Distinct, tz: str) -> Days:
    """Group the distinct readings by (series, local day) and summarise each day."""
    day = local_days(d.micros, tz)
    order = np.lexsort((d.micros, day, d.code))
    d = Distinct(d.series, d.code[order], d.micros[order], d.value[order], d.duplicates, d.replaced)
    day = day[order]
    out = Days(d, day)
    n = len(day)
    if n == 0:
        return out
    cut = np.flatnonzero((day[1:] != day[:-1]) | (d.code[1:] != d.code[:-1])) + 1
    out.starts = [0, *cut.tolist()]
    out.ends = [*cut.tolist(), n]
    out.group_code = d.code[out.starts].tolist()
    out.group_day = day[out.starts].tolist()
    values = d.value.tolist()
    out.summaries = [summarize(values[a:b]) for a, b in zip(out.starts, out.ends, strict=True)]
    return out


def stat_rows(days: Days) -> list[StatRow]:
    """Every period row, sorted by (series, period, start, weekday): the stream's absolute values."""
    acc: dict[tuple[int, str, int, int], Summary] = {}
    for code, day, s in zip(days.group_code, days.group_day, days.summaries, strict=True):
        for p, start, wd in period_keys(day):
            key = (code, PERIODS[p], start, wd)
            acc[key] = merge(acc.get(key, EMPTY), s)
    names = days.distinct.series
    return [(names[code], period, dt.date.fromordinal(start), wd or None, s[0], s[1], std(s), s[3], s[4])
            for (code, period, start, wd), s in sorted(acc.items())]


def outlier_rows(days: Days, rule: OutlierRule) -> list[OutlierRow]:
    """Outliers (SPEC section 3) of every reading, sorted by (series, instant)."""
    w = rule.window_days
    by_day = {(c, dd): s for c, dd, s in zip(days.group_code, days.group_day, days.summaries, strict=True)}
    out: list[OutlierRow] = []
    d = days.distinct
    names = d.series
    for g, (code, day) in enumerate(zip(days.group_code, days.group_day, strict=True)):
        ref = EMPTY
        for prev in range(day - w, day):
            s = by_day.get((code, prev))
            if s is not None:
                ref = merge(ref, s)
        if ref[0] < rule.min_count:
            continue
        mean, sd = ref[1], std(ref)
        a, b = days.starts[g], days.ends[g]
        vals = d.value[a:b]
        hi = mean + rule.k * sd
        lo = mean - rule.k * sd
        hits = np.flatnonzero((vals > hi) | (vals < lo))
        for i in hits.tolist():
            v = float(vals[i])
            out.append((names[code], int(d.micros[a + i]), v, mean, sd, "high" if v > hi else "low"))
    out.sort(key=lambda r: (r[0], r[1]))
    return out
