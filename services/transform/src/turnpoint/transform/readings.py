"""Sensor readings: calendar statistics and outliers per series; CCTV counts become readings."""

from __future__ import annotations

import datetime as dt

from pydantic import TypeAdapter

from turnpoint.core import topics
from turnpoint.core.algorithms import SeriesCalendar
from turnpoint.core.contracts import Count, Reading
from turnpoint.transform.processing import InMessage, Outbox, StateStore, TopicNames, valid_items
from turnpoint.transform.settings import TransformOptions

_READING = TypeAdapter(Reading)
_COUNT = TypeAdapter(Count)



class ReadingsProcessor:
    """Turns batches of `turnpoint.readings.v1` messages into statistics rows and outlier events."""

    def __init__(self, options: TransformOptions, names: TopicNames, tz: str) -> None:
        self.options = options
        self.names = names
        self.tz = tz
        self.dlq = names.dlq(topics.READINGS)

    def valid_readings(self, msgs: list[InMessage], out: Outbox) -> dict[str, list[tuple[Reading, InMessage]]]:
        by_series: dict[str, list[tuple[Reading, InMessage]]] = {}
        for msg in msgs:
            for reading in valid_items(msg, out, self.dlq, _READING):
                by_series.setdefault(reading.series, []).append((reading, msg))
        return by_series

    def state(self, series: str, store: StateStore) -> SeriesCalendar:
        raw = store.get(series)
        if raw is not None:
            return SeriesCalendar.from_bytes(raw)
        o = self.options
        return SeriesCalendar(
            series, tz=self.tz, allowed_lateness=dt.timedelta(days=o.lateness_days), window_days=o.window_days,
            min_count=o.min_count, k=o.k,
        )

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        out = Outbox()
        n = self.names
        for series, readings in self.valid_readings(msgs, out).items():
            state = self.state(series, store)
            update = state.apply((r.ts, r.value) for r, _ in readings)
            if update.rejected:
                origin = {(r.ts, r.value): (r, m) for r, m in readings}
                for rej in update.rejected:
                    reading, msg = origin[(rej["ts"], rej["value"])]
                    out.dead_letter(self.dlq, msg, rej["reason"], rej["detail"], reading.model_dump_json().encode())
            out.add(n.stats, series, update.rows)
            out.add(n.outliers, series, update.outliers)
            if update.accepted:
                store.put(series, state.to_bytes(), readings[-1][1].partition)
        return out


class CountsProcessor:
    """CCTV counts → readings `<camera>/people` and `<camera>/vehicle` at the period start."""

    def __init__(self, names: TopicNames) -> None:
        self.names = names
        self.dlq = names.dlq(topics.COUNTS)

    def process(self, msgs: list[InMessage]) -> Outbox:
        out = Outbox()
        for msg in msgs:
            for count in valid_items(msg, out, self.dlq, _COUNT):
                ts = count.period_start.isoformat().replace("+00:00", "Z")
                for kind, value in (("people", count.people), ("vehicle", count.vehicle)):
                    series = f"{count.camera}/{kind}"
                    item = {"series": series, "ts": ts, "value": float(value), "unit": "count", "source": "cctv"}
                    out.add(self.names.readings, series, [item])
        return out
