"""Readings later than the allowed lateness are not stored (SPEC 2), judged as the transform judges them: in
arrival order, against the newest reading of the series stored before the batch and seen within it.

Without it the loader stored every raw reading, the transform's `late` dead letters included; a rebuild after
a broker restart re-published them in time order and the statistics then counted them: a changed result.
"""

from __future__ import annotations

from typing import Any

from loader_helpers import query, running, wait_for  # type: ignore[import-not-found]
from prometheus_client import REGISTRY
from turnpoint.core import topics


def reading(ts: str, value: float) -> dict[str, Any]:
    return {"series": "late/1", "ts": ts, "value": value}


def _late_total() -> float:
    return REGISTRY.get_sample_value("turnpoint_loader_readings_late_total") or 0.0


def test_late_readings_are_left_out_in_arrival_order_and_across_flushes(
    loader_settings: Any, produce: Any, migrated_db: str,
) -> None:
    from turnpoint.loader.app import bootstrap

    assert loader_settings.lateness_days == 2.0
    before = _late_total()
    # one message: 02-07 is 3 days behind 02-10 (late); 02-09 is 1 day behind (kept)
    produce(topics.READINGS, [reading("2024-02-10T00:00:00Z", 1.0), reading("2024-02-07T00:00:00Z", 9.0),
                              reading("2024-02-09T00:00:00Z", 2.0)], key="late/1")
    with running(bootstrap(loader_settings)):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM reading")[0][0] == 2)
        # a later flush: the horizon now comes from the table (02-10). 02-07T12 is late; the revision of 02-09
        # is kept; 02-12 moves the horizon, after which 02-09T12 (2.5 days behind) is late, and so is a
        # revision of 02-09 that would have replaced the stored value
        produce(topics.READINGS, [reading("2024-02-07T12:00:00Z", 5.0), reading("2024-02-09T00:00:00Z", 3.0),
                                  reading("2024-02-12T00:00:00Z", 4.0), reading("2024-02-09T12:00:00Z", 6.0),
                                  reading("2024-02-09T00:00:00Z", 7.0)], key="late/1")
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM reading")[0][0] == 3)
        wait_for(lambda: _late_total() - before == 4)
    rows = query(migrated_db, "SELECT ts::text, value FROM reading ORDER BY ts")
    assert rows == [("2024-02-09 00:00:00+00", 3.0), ("2024-02-10 00:00:00+00", 1.0), ("2024-02-12 00:00:00+00", 4.0)]
    assert _late_total() - before == 4
