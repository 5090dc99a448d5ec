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


@dataclass(slots=True)
class Outliers:
    """The outliers of :func:`outlier_columns`, column by column, sorted by (series, instant)."""

    code: Any  # int64: index into the names of ``Distinct.series``
    micros: Any  # int64
    value: Any  # float64
    mean: Any  # float64
    std: Any  # float64
    high: Any  # bool: "high" where true, else "low"


def window_references(days: Days, window_days: int) -> tuple[Any, Any, Any]:
    """``(count, mean, m2)`` of each day group's reference: the left fold with :func:`moments.merge` of the
    summaries of the series' days ``D-W .. D-1``, in day order, from :data:`moments.EMPTY`, as the stream
    builds it. The fold runs for all groups at once, one window offset at a time, with merge's own
    arithmetic elementwise (the same IEEE operations in the same order, so the same bits)."""
    g = len(days.group_day)
    code = np.array(days.group_code, dtype=np.int64)
    day = np.array(days.group_day, dtype=np.int64)
    n_s = np.array([s[0] for s in days.summaries], dtype=np.int64)
    mean_s = np.array([s[1] for s in days.summaries], dtype=np.float64)
    m2_s = np.array([s[2] for s in days.summaries], dtype=np.float64)
    key = (code << 32) | (day - day.min() if g else day)  # groups are sorted by (series, day): so is key
    n, mean, m2 = np.zeros(g, dtype=np.int64), np.zeros(g), np.zeros(g)
    for offset in range(min(window_days, int(day.max() - day.min()) if g else 0), 0, -1):
        at = np.searchsorted(key, key - offset)
        at_c = np.minimum(at, g - 1)
        there = np.flatnonzero((at < g) & (key[at_c] == key - offset))
        b = at_c[there]
        na, nb = n[there], n_s[b]
        first = na == 0  # merge(EMPTY, b) is b itself
        total = na + nb
        delta = mean_s[b] - mean[there]
        merged_mean = mean[there] + delta * nb / total
        merged_m2 = m2[there] + m2_s[b] + delta * delta * na * nb / total
        n[there] = total
        mean[there] = np.where(first, mean_s[b], merged_mean)
        m2[there] = np.where(first, m2_s[b], merged_m2)
    return n, mean, m2


def outlier_columns(days: Days, rule: OutlierRule) -> Outliers:
    """Outliers (SPEC section 3) of every reading, as :meth:`OutlierRule.judge` decides them."""
    n, mean, m2 = window_references(days, rule.window_days)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(n > 0, np.sqrt(m2 / np.maximum(n, 1)), 0.0)  # moments.std
    hi = mean + rule.k * sd
    lo = mean - rule.k * sd
    d = days.distinct
    sizes = np.array(days.ends, dtype=np.int64) - np.array(days.starts, dtype=np.int64)
    judged = np.repeat(n >= rule.min_count, sizes)
    v = d.value
    hi_r, lo_r = np.repeat(hi, sizes), np.repeat(lo, sizes)
    high = v > hi_r
    hit = np.flatnonzero(judged & (high | (v < lo_r)))
    group = np.repeat(np.arange(len(sizes)), sizes)[hit]
    return Outliers(d.code[hit], d.micros[hit], v[hit], mean[group], sd[group], high[hit])


def outlier_rows(days: Days, rule: OutlierRule) -> list[OutlierRow]:
    """Outliers (SPEC section 3) of every reading, sorted by (series, instant)."""
    if not days.group_day:
        return []
    o = outlier_columns(days, rule)
    names = days.distinct.series
    return [(names[c], us, v, m, sd, "high" if h else "low") for c, us, v, m, sd, h in zip(
        o.code.tolist(), o.micros.tolist(), o.value.tolist(), o.mean.tolist(), o.std.tolist(), o.high.tolist(),
        strict=True)]
