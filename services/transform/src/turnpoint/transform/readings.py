"""Sensor readings: calendar statistics and outliers per series; CCTV counts become readings."""

from __future__ import annotations

import orjson
from pydantic import TypeAdapter, ValidationError

from turnpoint.core import topics
from turnpoint.core.contracts import Count, Reading
from turnpoint.transform.processing import InMessage, Outbox, StateStore, TopicNames, decode
from turnpoint.transform.settings import TransformOptions

_READING = TypeAdapter(Reading)
_COUNT = TypeAdapter(Count)


def _error(exc: ValidationError) -> str:
    e = exc.errors()[0]
    return f"{'.'.join(str(p) for p in e['loc']) or 'item'}: {e['msg']}"


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
            items = decode(msg, out, self.dlq)
            if items is None:
                continue
            for raw in items:
                try:
                    reading = _READING.validate_python(raw)
                except ValidationError as exc:
                    out.dead_letter(self.dlq, msg, "invalid", _error(exc), orjson.dumps(raw))
                    continue
                by_series.setdefault(reading.series, []).append((reading, msg))
        return by_series

    def process(self, msgs: list[InMessage], store: StateStore) -> Outbox:
        out = Outbox()
        self.valid_readings(msgs, out)
        return out


class CountsProcessor:
    """CCTV counts → readings `<camera>/people` and `<camera>/vehicle` at the period start."""

    def __init__(self, names: TopicNames) -> None:
        self.names = names
        self.dlq = names.dlq(topics.COUNTS)

    def process(self, msgs: list[InMessage]) -> Outbox:
        out = Outbox()
        for msg in msgs:
            items = decode(msg, out, self.dlq)
            if items is None:
                continue
            for raw in items:
                try:
                    count = _COUNT.validate_python(raw)
                except ValidationError as exc:
                    out.dead_letter(self.dlq, msg, "invalid", _error(exc), orjson.dumps(raw))
                    continue
                ts = count.period_start.isoformat().replace("+00:00", "Z")
                for kind, value in (("people", count.people), ("vehicle", count.vehicle)):
                    series = f"{count.camera}/{kind}"
                    item = {"series": series, "ts": ts, "value": float(value), "unit": "count", "source": "cctv"}
                    out.add(self.names.readings, series, [item])
        return out
