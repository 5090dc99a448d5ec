"""Dates and instants are ISO-8601 text at every edge (SPEC 2), never numbers read as Unix times (issue 15)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from turnpoint.core.contracts import Bar, Count, Reading

READING = {"series": "s", "ts": "2025-01-01T00:00:00Z", "value": 1.0}
BAR = {"symbol": "A", "date": "2024-01-02", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0}
COUNT = {"camera": "c", "period_start": "2025-01-01T00:00:00Z", "period_end": "2025-01-01T00:15:00Z",
         "people": 1, "vehicle": 0}


@pytest.mark.parametrize("value", [1_700_000_000, 1.7e9, "1700000000", " 17e8 ", "123e-5", "2025", True])
def test_an_instant_given_as_a_number_is_refused(value: Any) -> None:
    # pydantic alone read each of these (but true) as a Unix time in UTC: a reading of 2023-11-14T22:13:20Z
    with pytest.raises(ValidationError, match="expected ISO-8601 text"):
        Reading.model_validate({**READING, "ts": value})
    with pytest.raises(ValidationError, match="expected ISO-8601 text"):
        Count.model_validate({**COUNT, "period_start": value})


@pytest.mark.parametrize("value", [1_704_153_600, "1704153600", 20240102])
def test_a_date_given_as_a_number_is_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="expected ISO-8601 text"):
        Bar.model_validate({**BAR, "date": value})


def test_iso_text_and_python_values_are_accepted() -> None:
    assert Reading.model_validate(READING).ts == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    seoul = dt.datetime(2025, 1, 1, 9, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    assert Reading.model_validate({**READING, "ts": seoul}).ts == dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    assert Reading.model_validate({**READING, "ts": "2025-01-01T09:00:00+09:00"}).ts.tzinfo == dt.UTC
    assert Bar.model_validate(BAR).date == Bar.model_validate({**BAR, "date": dt.date(2024, 1, 2)}).date
    with pytest.raises(ValidationError):  # text without an offset stays invalid
        Reading.model_validate({**READING, "ts": "2025-01-01T00:00:00"})
