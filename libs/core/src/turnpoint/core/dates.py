"""The synthetic trading calendar of the samples, the demo, the model's training data and the test harness."""

from __future__ import annotations

import datetime as dt


def trading_days(start: dt.date, count: int) -> list[dt.date]:
    """The first `count` weekdays from `start` on (Monday to Friday; no exchange holidays)."""
    days: list[dt.date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days
