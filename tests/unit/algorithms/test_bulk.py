"""The whole-file algorithms of the batch commands equal the stream's state machines, bit for bit."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from turnpoint.core.algorithms import SeriesCalendar, SymbolRebounds
from turnpoint.core.algorithms.bulk import distinct, group_days, local_days, outlier_rows, stat_rows
from turnpoint.core.algorithms.bulk_legs import _legs, leg_lines
from turnpoint.core.algorithms.calendar import LocalDays, to_micros
from turnpoint.core.algorithms.outliers import OutlierRule
from turnpoint.core.algorithms.texts import float_texts, iso_instants
from turnpoint.core.algorithms.zigzag import advance, empty_state
from turnpoint.core.tables import BarTable

pytestmark = pytest.mark.unit
PROPS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# zones with midnight DST changes (Santiago, Havana), 30-minute DST (Lord Howe), odd offsets (Kathmandu)
ZONES = ["UTC", "Asia/Seoul", "America/New_York", "America/Santiago", "America/Havana", "Australia/Lord_Howe",
         "Asia/Kathmandu", "Europe/London"]
DAY_US = 86_400_000_000


def stream_result(series: list[str], us: list[int], values: list[float], tz: str,
                  rule: OutlierRule) -> tuple[list[Any], list[Any]]:
    """What the batch commands computed before: SeriesCalendar per series, distinct readings in time order."""
    seen: dict[str, dict[int, float]] = defaultdict(dict)
    for s, u, v in zip(series, us, values, strict=True):
        seen[s][u] = v
    rows: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    outliers = []
    for s, by_ts in seen.items():
        cal = SeriesCalendar(s, tz=tz, window_days=rule.window_days, min_count=rule.min_count, k=rule.k)
        update = cal.apply([(u, by_ts[u]) for u in sorted(by_ts)])
        assert update.rejected == []
        for r in update.rows:
            rows[(r["series"], r["period"], r["start"], r["weekday"] or 0)] = (
                r["series"], r["period"], r["start"], r["weekday"], r["count"], r["mean"], r["std"], r["min"], r["max"])
        outliers += [(o["series"], to_micros(o["ts"]), o["value"], o["mean"], o["std"], o["direction"])
                     for o in update.outliers]
    return [rows[k] for k in sorted(rows)], sorted(outliers, key=lambda o: (o[0], o[1]))


@st.composite
def readings(draw: st.DrawFn) -> tuple[list[str], list[int], list[float]]:
    base = draw(st.sampled_from([dt.datetime(2025, 3, 7, tzinfo=dt.UTC), dt.datetime(2024, 9, 1, tzinfo=dt.UTC),
                                 dt.datetime(2025, 10, 24, tzinfo=dt.UTC), dt.datetime(1905, 1, 1, tzinfo=dt.UTC)]))
    n = draw(st.integers(1, 150))
    step = draw(st.sampled_from([10, 60, 397, 1440]))  # minutes, about
    series, us, values = [], [], []
    t = to_micros(base)
    for _ in range(n):
        t += draw(st.integers(0, step)) * 60_000_000 + draw(st.integers(0, 2)) * 500_000
        s = draw(st.sampled_from(["a", "b/c", "z"]))
        v = draw(st.one_of(st.integers(0, 5).map(float), st.floats(-50, 50).map(lambda x: round(x, 2)),
                           st.just(-0.0)))
        series.append(s)
        us.append(t)
        values.append(v)
        if draw(st.integers(0, 6)) == 0:  # a redelivery or a replacement later in the file
            series.append(s)
            us.append(t)
            values.append(draw(st.sampled_from([v, v + 1.0])))
    return series, us, values


@PROPS
@given(readings(), st.sampled_from(ZONES), st.integers(1, 10), st.integers(1, 12), st.sampled_from([0.0, 0.5, 1.5]))
def test_stats_and_outliers_equal_the_stream(data: Any, tz: str, w: int, min_count: int, k: float) -> None:
    series, us, values = data
    rule = OutlierRule(w, min_count, k)
    want_rows, want_out = stream_result(series, us, values, tz, rule)
    days = group_days(distinct(series, us, values), tz)
    assert stat_rows(days) == want_rows
    assert outlier_rows(days, rule) == want_out
    assert repr(stat_rows(days)) == repr(want_rows)  # -0.0 and 0.0 are equal but print differently


def test_duplicates_and_replacements_are_counted_as_in_file_order() -> None:
    d = distinct(["a", "a", "a", "b", "a"], [1, 1, 2, 1, 1], [1.0, 1.0, 5.0, 3.0, 2.0])
    assert (d.duplicates, d.replaced) == (1, 1)
    assert d.series == ["a", "b"] and d.value.tolist() == [2.0, 5.0, 3.0]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(ZONES), st.integers(-2_000_000, 2_000_000), st.lists(st.integers(0, 3 * 86_400), min_size=1,
                                                                            max_size=60))
def test_local_days_equal_local_days_one_by_one(tz: str, start_hours: int, seconds: list[int]) -> None:
    # instants around the whole year, so DST changes (at midnight in Santiago and Havana) are crossed
    base = start_hours * 3_600_000_000
    us = np.array(sorted(base + s * 1_000_000 for s in seconds), dtype=np.int64)
    one = LocalDays(tz)
    assert local_days(us, tz).tolist() == [one.day_of(int(u)) for u in us]


def test_local_days_across_a_midnight_dst_change() -> None:
    tz = "America/Santiago"  # 2024-09-08 00:00 -> 01:00: the local midnight does not exist
    start = to_micros(dt.datetime(2024, 9, 7, 0, tzinfo=dt.UTC))
    us = np.arange(start, start + 3 * DAY_US, 60_000_000 * 7, dtype=np.int64)
    one = LocalDays(tz)
    assert local_days(us, tz).tolist() == [one.day_of(int(u)) for u in us]


@st.composite
def bar_files(draw: st.DrawFn) -> BarTable:
    t = BarTable()
    for _ in range(draw(st.integers(1, 120))):
        t.symbol.append(draw(st.sampled_from(["AAA", "B.X", "005930"])))
        t.day.append(dt.date(2024, 1, 1).toordinal() + draw(st.integers(0, 60)))
        # few distinct values: plateaus and ties; 1e6 next to 1e6 + 0.01: a pct below 1e-4 (printed by repr)
        o, h, lo, c = (draw(st.sampled_from([1.0, 2.0, 2.5, 3.0, 10.0, 0.1, 1e6, 1e6 + 0.01, 0.3 + 0.0001]))
                       for _ in range(4))
        t.open.append(o)
        t.high.append(max(h, lo))
        t.low.append(min(h, lo))
        t.close.append(c)
        t.volume.append(0.0)
    return t


@PROPS
@given(bar_files(), st.sampled_from([0.0, 1e-9, 0.05, 0.5]),
       st.sampled_from([["close"], ["close", "high", "low", "open"], ["low", "open"]]))
def test_leg_lines_equal_symbol_rebounds(t: BarTable, threshold: float, gtypes: list[str]) -> None:
    final: dict[str, dict[int, tuple[float, ...]]] = defaultdict(dict)
    for row in zip(t.symbol, t.day, t.open, t.high, t.low, t.close, t.volume, strict=True):
        final[row[0]][row[1]] = row[2:]
    want = []
    for symbol in sorted(final):
        bars = final[symbol]
        update = SymbolRebounds(symbol, threshold=threshold).apply(
            [(dt.date.fromordinal(d), *bars[d]) for d in sorted(bars)])  # type: ignore[misc]
        legs = sorted((leg for leg in update.legs if leg["gtype"] in gtypes and not leg["deleted"]),
                      key=lambda leg: (leg["gtype"], leg["start_date"]))
        want += [",".join(repr(x) if isinstance(x, float) else str(x) for x in (
            leg["symbol"], leg["gtype"], leg["start_date"], leg["start_value"], leg["end_date"], leg["end_value"],
            leg["bars"], leg["change"], leg["pct"], leg["direction"])) + "\n" for leg in legs]
    blocks, legs, revised, symbols = leg_lines(t, gtypes, threshold)
    assert b"".join(blocks).decode() == "".join(want) and legs == len(want)
    assert revised == len(t.day) - sum(map(len, final.values())) and symbols == len(final)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from([1.0, 1.5, 2.0, 2.1, 3.0, 4.0, 100.0]), min_size=1, max_size=40), min_size=1,
                max_size=5), st.sampled_from([0.0, 1e-12, 0.02, 0.05, 0.3, 0.6, 2.0]))
def test_the_zigzag_over_turning_bars_equals_the_zigzag_over_every_bar(symbols: list[list[float]],
                                                                        threshold: float) -> None:
    """bulk_legs runs `advance` only over each symbol's first, turning and last bars (theta = 0: no loop at
    all); the legs must be those of `advance` over every bar."""
    want = []
    offset = 0
    for ys in symbols:
        legs: list[Any] = []
        advance(empty_state(), 0, list(range(offset, offset + len(ys))), ys, threshold, legs)
        want += [(leg[1], leg[4]) for leg in legs]
        offset += len(ys)
    y = np.array([v for ys in symbols for v in ys])
    first = np.zeros(len(y), dtype=bool)
    first[np.cumsum([0, *map(len, symbols[:-1])])] = True
    start, end = _legs(y, first, threshold)
    assert list(zip(start.tolist(), end.tolist(), strict=True)) == want


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=30))
def test_float_texts_are_repr(values: list[float]) -> None:
    assert float_texts(np.array(values, dtype=np.float64)) == list(map(repr, values))


@pytest.mark.parametrize("x", [1e-4, 9.99e-5, -1e-5, 5e-324, 1e16, 9.999999999999998e15, -1.5e22, 0.0, -0.0, 0.1 + 0.2])
def test_float_texts_at_the_edges_of_repr_formats(x: float) -> None:
    assert float_texts(np.array([x, 1.0])) == [repr(x), "1.0"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-30_610_224_000_000_000, 32_503_680_000_000_000), max_size=20))
def test_iso_instants_are_iso_z(us: list[int]) -> None:
    from turnpoint.cli.csvio import iso_z
    from turnpoint.core.algorithms.calendar import from_micros

    assert iso_instants(np.array(us, dtype=np.int64)) == [iso_z(from_micros(u)) for u in us]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(st.characters(blacklist_characters="\x00,\n\r\"", blacklist_categories=["Cs"]),
                                  max_size=4),
                          st.floats(allow_nan=False, allow_infinity=False), st.integers(-10**6, 10**6)),
                min_size=1, max_size=30),
       st.integers(1, 7))
def test_csv_rows_are_the_fields_joined(rows: list[tuple[str, float, int]], block: int) -> None:
    """The legs' writer lays padded columns side by side and drops the padding: the rows must be the
    texts joined by commas, whatever the widths, empty texts and block boundaries."""
    from turnpoint.core.algorithms.texts import csv_rows, float_column, int_column, text_column

    texts = [r[0] for r in rows]
    columns = [text_column(texts), float_column(np.array([r[1] for r in rows])),
               int_column(np.array([r[2] for r in rows], dtype=np.int64)), text_column(["x", ""], np.arange(len(rows)) % 2)]
    want = "".join(f"{t},{x!r},{i},{'x' if k % 2 == 0 else ''}\n" for k, (t, x, i) in enumerate(rows))
    assert b"".join(csv_rows(columns, block)).decode() == want
