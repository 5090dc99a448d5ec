"""SPEC 2's future-skew rule (`turnpoint.core.skew`): one rule and one setting for transform, loader and model."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.skew import FutureSkew

NOW = dt.datetime(2026, 6, 1, 22, 30, tzinfo=dt.UTC)


def test_an_instant_up_to_the_clock_plus_the_skew_is_accepted_and_one_later_is_future() -> None:
    bound = FutureSkew(1.0, lambda: NOW).bound()
    assert bound.instant("ts", NOW + dt.timedelta(days=1)) is None
    detail = bound.instant("ts", NOW + dt.timedelta(days=1, microseconds=1))
    assert detail is not None
    assert detail.startswith("ts 2026-06-02T22:30:00.000001+00:00 is after 2026-06-02T22:30:00+00:00")
    # the same instant in another zone is the same instant
    seoul = (NOW + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=9)))
    assert bound.instant("ts", seoul) is not None


def test_a_date_is_compared_with_the_utc_date_of_the_bound() -> None:
    bound = FutureSkew(1.0, lambda: NOW).bound()  # 2026-06-02T22:30Z: the 2nd is accepted, the 3rd not
    assert bound.date("date", dt.date(2026, 6, 2)) is None
    assert bound.date("date", dt.date(2026, 6, 3)) == "date 2026-06-03 is after 2026-06-02 (the clock plus the allowed skew)"
    assert FutureSkew(0.0, lambda: NOW).bound().date("date", dt.date(2026, 6, 2)) is not None


@pytest.mark.parametrize("days", [-1.0, float("nan")])
def test_a_negative_or_nan_skew_is_refused(days: float) -> None:
    with pytest.raises(ValueError, match="future skew"):
        FutureSkew(days)


def test_one_setting_for_every_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_FUTURE_SKEW_DAYS", "0.5")
    skew = TurnpointSettings().future_skew()
    assert skew.days == 0.5
    assert skew.bound().latest - dt.datetime.now(dt.UTC) < dt.timedelta(days=0.5, seconds=5)
    monkeypatch.setenv("TURNPOINT_FUTURE_SKEW_DAYS", "-1")
    with pytest.raises(ValueError, match="future_skew_days"):
        TurnpointSettings()


@given(st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)),  # noqa: DTZ001
       st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=30)),
       st.floats(min_value=0, max_value=30))
def test_what_a_service_accepted_a_later_service_accepts_too(event: dt.datetime, later: dt.timedelta,
                                                             days: float) -> None:
    """The clock moves forward: the loader and the model never refuse what the transform let through."""
    first = FutureSkew(days, lambda: NOW).bound()
    second = FutureSkew(days, lambda: NOW + later).bound()
    if first.instant("ts", event) is None:
        assert second.instant("ts", event) is None
    if first.date("date", event.date()) is None:
        assert second.date("date", event.date()) is None
