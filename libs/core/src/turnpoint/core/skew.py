"""The future-skew rule of SPEC 2, one for every consumer (transform, loader, model).

An event more than the configured skew (`TURNPOINT_FUTURE_SKEW_DAYS`, default 1 day) ahead of the service's
clock is a dead letter with the reason `future`: it neither advances a lateness horizon nor becomes anyone's
latest value. The clock only moves forward, so what one service accepted the next one downstream accepts too.

    skew = FutureSkew(settings.future_skew_days)
    bound = skew.bound()                      # once per batch or message
    detail = bound.instant("ts", reading.ts)  # None, or the dead letter's detail
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

FUTURE = "future"  # the dead-letter reason

Clock = Callable[[], dt.datetime]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Bound:
    """The latest instant (and bar date) accepted at one moment of the clock."""

    latest: dt.datetime

    @property
    def latest_date(self) -> dt.date:
        """Bars have dates: the last accepted is the date of the latest instant (UTC)."""
        return self.latest.astimezone(dt.UTC).date()

    def instant(self, name: str, value: dt.datetime) -> str | None:
        """The reason's detail if the aware instant `value` (field `name`) is after the bound, else None."""
        if value <= self.latest:
            return None
        return f"{name} {value.isoformat()} is after {self.latest.isoformat()} (the clock plus the allowed skew)"

    def date(self, name: str, value: dt.date) -> str | None:
        """The reason's detail if the date `value` (field `name`) is after the bound's date, else None."""
        latest = self.latest_date
        if value <= latest:
            return None
        return f"{name} {value.isoformat()} is after {latest.isoformat()} (the clock plus the allowed skew)"


@dataclass(frozen=True, slots=True)
class FutureSkew:
    """How far ahead of `clock` an event may be (`days`; 0 allows nothing after the clock)."""

    days: float = 1.0
    clock: Clock = field(default=utcnow, compare=False)

    def __post_init__(self) -> None:
        if not self.days >= 0:  # also refuses NaN
            msg = f"the future skew must be a number of days >= 0, got {self.days!r}"
            raise ValueError(msg)

    def bound(self) -> Bound:
        """The bound now (take it once per batch: the clock is read once)."""
        return Bound(self.clock() + dt.timedelta(days=self.days))
