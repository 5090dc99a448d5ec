"""Sensor readings: calendar statistics and outliers per series; CCTV counts become readings."""

from __future__ import annotations

import datetime as dt

from pydantic import TypeAdapter

from turnpoint.core import topics
from turnpoint.core.algorithms import SeriesCalendar
from turnpoint.core.contracts import Count, Reading
from turnpoint.core.observability import get_logger
from turnpoint.core.skew import FUTURE, Bound, FutureSkew
from turnpoint.transform.processing import (
    InMessage,
    Outbox,
    StateStore,
    TopicNames,
    failure,
    valid_items,
)
from turnpoint.transform.settings import TransformOptions

log = get_logger(__name__)
_READING = TypeAdapter(Reading)
_COUNT = TypeAdapter(Count)



class ReadingsProcessor:
    """Turns batches of `turnpoint.readings.v1` messages into statistics rows and outlier events."""

    def __init__(self, options: TransformOptions, names: TopicNames, tz: str, skew: FutureSkew | None = None,
                 *, lateness_days: float = 2.0) -> None:
        self.options = options
        self.lateness_days = lateness_days  # TURNPOINT_LATENESS_DAYS: the loader judges by the same rule
        self.names = names
        self.tz = tz
        self.dlq = names.dlq(topics.READINGS)
        self.skew = skew or FutureSkew()

    def valid_readings(self, msgs: list[InMessage], out: Outbox) -> dict[str, list[tuple[Reading, InMessage]]]:
        """Valid readings by series; a key that is not the series, or an instant after the clock plus the
        allowed skew (SPEC 2: `future`, which must not move the lateness horizon), dead-lettered."""
        by_series: dict[str, list[tuple[Reading, InMessage]]] = {}
        bound = self.skew.bound()
        for msg in msgs:
            key = msg.key.decode("utf-8", "replace") if msg.key else None
            for reading in valid_items(msg, out, self.dlq, _READING):
                if key is not None and reading.series != key:
                    detail = f"item series {reading.series!r} differs from message key {key!r}"
                    out.dead_letter(self.dlq, msg, "key-mismatch", detail, reading.model_dump_json().encode())
                elif (ahead := bound.instant("ts", reading.ts)) is not None:
                    out.dead_letter(self.dlq, msg, FUTURE, ahead, reading.model_dump_json().encode())
                else:
                    by_series.setdefault(reading.series, []).append((reading, msg))
        return by_series

    def state(self, series: str, store: StateStore) -> SeriesCalendar:
        raw = store.get(series)
        if raw is not None:
            return SeriesCalendar.from_bytes(raw)
        o = self.options
        return SeriesCalendar(
            series, tz=self.tz, allowed_lateness=dt.timedelta(days=self.lateness_days), window_days=o.window_days,
            min_count=o.min_count, k=o.k,
        )

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        """Every series' outputs; a series whose readings raise is retried reading by reading."""
        out = Outbox()
        for series, readings in self.valid_readings(msgs, out).items():
            scratch = Outbox()
            try:
                self.process_series(series, readings, store, scratch)
            except Exception as exc:
                log.warning("readings.series_failed", series=series, error=failure(exc))
                for one in readings:  # alone, in order; the state goes through the store each time
                    scratch = Outbox()
                    try:
                        self.process_series(series, [one], store, scratch)
                    except Exception as exc_one:
                        out.dead_letter(self.dlq, one[1], "processing-failed", failure(exc_one),
                                        one[0].model_dump_json().encode())
                    else:
                        out.merge(scratch)
            else:
                out.merge(scratch)
        return out

    def process_series(
        self, series: str, readings: list[tuple[Reading, InMessage]], store: StateStore, out: Outbox,
    ) -> None:
        n = self.names
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


class CountsProcessor:
    """CCTV counts → readings `<camera>/people` and `<camera>/vehicle` at the period start."""

    def __init__(self, names: TopicNames, skew: FutureSkew | None = None) -> None:
        self.names = names
        self.dlq = names.dlq(topics.COUNTS)
        self.skew = skew or FutureSkew()

    def process(self, msgs: list[InMessage]) -> Outbox:
        out = Outbox()
        bound = self.skew.bound()
        for msg in msgs:
            scratch = Outbox()
            try:
                self.process_message(msg, scratch, bound)
            except Exception as exc:
                out.dead_letter(self.dlq, msg, "processing-failed", failure(exc))
            else:
                out.merge(scratch)
        return out

    def process_message(self, msg: InMessage, out: Outbox, bound: Bound) -> None:
        key = msg.key.decode("utf-8", "replace") if msg.key else None
        for count in valid_items(msg, out, self.dlq, _COUNT):
            if key is not None and count.camera != key:
                detail = f"item camera {count.camera!r} differs from message key {key!r}"
                out.dead_letter(self.dlq, msg, "key-mismatch", detail, count.model_dump_json().encode())
                continue
            ahead = bound.instant("period_start", count.period_start)
            if ahead is not None:
                out.dead_letter(self.dlq, msg, FUTURE, ahead, count.model_dump_json().encode())
                continue
            ts = count.period_start.isoformat().replace("+00:00", "Z")
            for kind, value in (("people", count.people), ("vehicle", count.vehicle)):
                series = f"{count.camera}/{kind}"
                item = {"series": series, "ts": ts, "value": float(value), "unit": "count", "source": "cctv"}
                out.add(self.names.readings, series, [item])
