"""The loader's lateness rule (`core.lateness.Horizons`) judges every reading exactly as the transform's calendar
state does: the `reading` table a rebuild re-publishes must hold the readings the statistics counted."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from turnpoint.core.algorithms.calendar import SeriesCalendar
from turnpoint.core.lateness import Horizons

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _calendar_late(series: str, arrivals: list[tuple[dt.datetime, float]], days: float) -> list[bool]:
    state = SeriesCalendar(series, tz="Asia/Seoul", allowed_lateness=dt.timedelta(days=days))
    verdicts = []
    for ts, value in arrivals:  # one at a time: the verdict of each in arrival order
        out = state.apply([(ts, value)])
        verdicts.append(any(r["reason"] == "late" for r in out.rejected))
    return verdicts


@settings(max_examples=200, deadline=None)
@given(
    offsets=st.lists(st.tuples(st.integers(-6 * 24 * 60, 6 * 24 * 60), st.sampled_from([1.0, 2.0, 3.0])),
                     min_size=1, max_size=60),
    days=st.sampled_from([0.5, 1.0, 2.0, 1 / 3]),
)
def test_horizons_and_the_calendar_state_agree_on_every_reading(offsets: list[tuple[int, float]],
                                                                   days: float) -> None:
    arrivals = [(T0 + dt.timedelta(minutes=m), v) for m, v in offsets]
    horizons = Horizons(days)
    loader = [horizons.offer("s/1", ts) is not None for ts, _ in arrivals]
    assert loader == _calendar_late("s/1", arrivals, days)


def test_a_reading_exactly_at_the_horizon_is_accepted_and_one_microsecond_earlier_is_late() -> None:
    horizons = Horizons(2.0, {"s": T0})
    assert horizons.offer("s", T0 - dt.timedelta(days=2)) is None
    detail = horizons.offer("s", T0 - dt.timedelta(days=2, microseconds=1))
    assert detail is not None and "behind the newest reading 2026-03-01T00:00:00+00:00 of 's'" in detail
    assert horizons.offer("other", T0 - dt.timedelta(days=30)) is None  # series are judged apart


def test_a_late_reading_does_not_move_the_horizon_and_a_newer_one_does() -> None:
    horizons = Horizons(1.0)
    assert horizons.offer("s", T0) is None
    assert horizons.offer("s", T0 - dt.timedelta(days=3)) is not None
    assert horizons.newest["s"] == T0
    assert horizons.offer("s", T0 + dt.timedelta(days=5)) is None
    assert horizons.offer("s", T0 + dt.timedelta(days=3)) is not None


@pytest.mark.parametrize("days", [0.0, -1.0, float("nan")])
def test_the_allowed_lateness_must_be_positive(days: float) -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Horizons(days)
