"""The hand-written row checks accept exactly what the `Bar` and `Reading` contracts accept."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from turnpoint.core.contracts import Bar, Reading
from turnpoint.ingest.rows import RowError, bar_dict, reading_dict

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-5, 5).map(str),
    st.sampled_from(["", "abc", "1e400", "-0", "0.0", " 7 "]),
)
dates = st.one_of(st.dates().map(str), st.sampled_from(["2024-02-30", "x", "2024/01/02", "20240102"]))


@settings(max_examples=400, deadline=None)
@given(o=numbers, h=numbers, lo=numbers, c=numbers, v=numbers, d=dates)
def test_bar_rules_match_contract(o: str, h: str, lo: str, c: str, v: str, d: str) -> None:
    try:
        row = bar_dict("SYM", d, o, h, lo, c, v, None)
    except RowError:
        row = None
    try:
        fields = {"open": float(o), "high": float(h), "low": float(lo), "close": float(c), "volume": float(v) if v else 0.0}
        if not all(math.isfinite(x) for x in fields.values()):
            msg = "non-finite"
            raise ValueError(msg)  # orjson cannot carry inf/nan: both sides must refuse
        iso = d.replace("/", "-") if len(d) != 8 else f"{d[:4]}-{d[4:6]}-{d[6:]}"  # 20240102 is accepted too
        model = Bar(symbol="SYM", date=iso, **fields)
    except (ValueError, ValidationError):
        model = None
    if model is None:
        assert row is None
    else:
        assert row is not None and Bar.model_validate(row) == model


@settings(max_examples=200, deadline=None)
@given(value=numbers, ts=st.sampled_from(["2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "2024-01-01T09:00+09:00", "x"]))
def test_reading_rules_match_contract(value: str, ts: str) -> None:
    try:
        row = reading_dict("s/1", ts, value, None, None)
    except RowError:
        row = None
    try:
        model = Reading(series="s/1", ts=ts, value=float(value))
    except (ValueError, ValidationError):
        model = None
    assert (row is None) == (model is None)
    if model is not None:
        assert Reading.model_validate(row) == model
