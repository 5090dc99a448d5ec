"""SPEC 2's allowed lateness: one rule for the transform's calendar state and the loader's `reading` table.

A reading more than the allowed lateness (`TURNPOINT_LATENESS_DAYS`, default 2 days) behind the newest
reading of its series accepted so far is `late`: the transform dead-letters it and leaves the statistics
alone, and the loader does not store it. The two must judge alike. The `reading` table is what a rebuild
re-publishes (in time order) after the broker lost its topics; a reading the stream refused but the table
kept would be counted after a restart, and a restart must never change a result.

    horizons = Horizons(settings.lateness_days, newest_stored)   # newest instant per series, or {}
    detail = horizons.offer("pump-1/temp", ts)                    # None: accepted; else why it is late

`turnpoint.core.algorithms.calendar.SeriesCalendar` keeps the stream's copy of the comparison inside its hot
loop; tests/unit/core/test_lateness.py checks that both give the same verdicts on random sequences.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LATE = "late"  # the dead-letter reason


@dataclass(slots=True)
class Horizons:
    """The newest accepted instant per key, and the verdict on each next instant, in arrival order."""

    days: float = 2.0
    newest: dict[str, dt.datetime] = field(default_factory=dict)
    allowed: dt.timedelta = field(init=False)

    def __post_init__(self) -> None:
        if not self.days > 0:  # also refuses NaN
            msg = f"the allowed lateness must be > 0 days, got {self.days!r}"
            raise ValueError(msg)
        self.allowed = dt.timedelta(days=self.days)

    def behind(self, key: str, ts: dt.datetime) -> bool:
        """Whether `ts` is late for `key` now (the horizon does not move)."""
        newest = self.newest.get(key)
        return newest is not None and ts < newest - self.allowed

    def offer(self, key: str, ts: dt.datetime) -> str | None:
        """None when `ts` (aware) is accepted, and the key's newest moves up to it; else the detail of `late`."""
        newest = self.newest.get(key)
        if newest is not None and ts < newest - self.allowed:  # behind(), inlined: the loader's hot loop
            return (f"{ts.isoformat()} is more than {self.allowed} behind the newest reading "
                    f"{newest.isoformat()} of {key!r}")
        if newest is None or ts > newest:
            self.newest[key] = ts
        return None
