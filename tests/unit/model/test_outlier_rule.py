from __future__ import annotations

import datetime as dt

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from turnpoint.model.outlier_rule import outlier_flags


def _reference(times: list[dt.datetime], values: list[float], w: int, min_count: int, k: float) -> list[int]:
    out = []
    for t, v in zip(times, values, strict=True):
        day = t.date()
        ref = [x for s, x in zip(times, values, strict=True) if day - dt.timedelta(days=w) <= s.date() < day]
        if len(ref) < min_count:
            out.append(0)
            continue
        mean, std = float(np.mean(ref)), float(np.std(ref))
        out.append(1 if v > mean + k * std else -1 if v < mean - k * std else 0)
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24 * 20), st.floats(-50, 50, allow_nan=False)), min_size=1, max_size=80,
                unique_by=lambda p: p[0]))
def test_vectorised_rule_equals_the_spec_rule(points: list[tuple[int, float]]) -> None:
    points.sort()
    start = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    times = [start + dt.timedelta(hours=h) for h, _ in points]
    values = [v for _, v in points]
    arr = np.array([t.replace(tzinfo=None) for t in times], dtype="datetime64[us]")
    got, _judged = outlier_flags(arr, np.array(values), window_days=3, min_count=5, k=1.0)
    want = _reference(times, values, 3, 5, 1.0)
    assert got.tolist() == want
