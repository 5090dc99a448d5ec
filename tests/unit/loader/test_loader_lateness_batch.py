"""`TableBatch.within`: the allowed lateness over a batch's readings in arrival order, without I/O."""

from __future__ import annotations

import datetime as dt

import orjson
from support.messages import Message
from turnpoint.core import topics
from turnpoint.core.lateness import Horizons
from turnpoint.loader import tables as T
from turnpoint.loader.batch import Batch

T0 = dt.datetime(2024, 2, 10, tzinfo=dt.UTC)


def _batch(*messages: list[tuple[str, dt.datetime, float]]) -> Batch:
    batch = Batch({t.topic.name: t for t in T.TABLES})
    for offset, items in enumerate(messages):
        body = {"v": 1, "items": [{"series": s, "ts": ts.isoformat(), "value": v} for s, ts, v in items]}
        batch.add(Message(topics.READINGS.name, orjson.dumps(body), offset), topics.READINGS.name)
    return batch


def test_late_rows_are_left_out_in_arrival_order_and_the_last_kept_item_per_key_wins() -> None:
    day = dt.timedelta(days=1)
    batch = _batch(
        [("a", T0, 1.0), ("a", T0 - 3 * day, 2.0), ("b", T0 - 10 * day, 3.0)],
        [("a", T0 - day, 4.0), ("a", T0 + 3 * day, 5.0), ("a", T0 - day, 6.0), ("b", T0 - 12 * day, 7.0)],
    )
    whole = batch.tables["reading"]
    assert whole.series() == ["a", "b"]
    kept, late = whole.within(Horizons(2.0, {"b": T0 - 9 * day}))
    rows, _ = kept.upserts()
    assert late == 3  # a at T0-3d; a's revision at T0-1d after the horizon moved to T0+3d; b at T0-12d
    assert sorted((r[0], r[1], r[2]) for r in rows) == [
        ("a", T0 - day, 4.0), ("a", T0, 1.0), ("a", T0 + 3 * day, 5.0), ("b", T0 - 10 * day, 3.0)]
    # the batch itself is unchanged: a retried write judges again from the database's state then
    assert len(whole.arrivals or []) == 7
    again, late_again = whole.within(Horizons(2.0, {"a": T0 + 10 * day}))
    assert late_again == 5 and {r[0] for r in again.upserts()[0]} == {"b"}
