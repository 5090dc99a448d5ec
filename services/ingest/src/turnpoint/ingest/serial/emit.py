"""Turning parsed samples into readings: receipt timestamps (UTC, strictly increasing per series) and batches."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from turnpoint.core import topics
from turnpoint.core.freshness import JobBeats
from turnpoint.ingest.rows import iso_utc
from turnpoint.ingest.serial.protocols import Sample

_TICK = dt.timedelta(microseconds=1)


class Sink(Protocol):
    """What readers send to (a `ReliableSender` in the service, a list in unit tests)."""

    def send(self, spec: topics.TopicSpec, key: str, items: list[dict[str, Any]]) -> None: ...

    def dead_letter(self, spec: topics.TopicSpec, reason: str, detail: str, payload: bytes | str,
                    key: str | None = None) -> None: ...


class Emitter:
    """Collects the readings of one read (chunk) per series and sends them as one envelope per series.

    A reading's key is (series, ts), so two values received in the same instant must not share a
    timestamp: receipt times are made strictly increasing per series (by a microsecond when needed).
    """

    def __init__(self, sink: Sink, source: str) -> None:
        self.sink = sink
        self.source = source
        self._last: dict[str, dt.datetime] = {}
        self._batch: dict[str, list[dict[str, Any]]] = {}
        self.count = 0
        self._beats = JobBeats()

    def add(self, samples: list[Sample], received: dt.datetime) -> None:
        for series, value, unit, ts in samples:
            if ts is None:
                last = self._last.get(series)
                ts = received if last is None or received > last else last + _TICK
                self._last[series] = ts
            self._batch.setdefault(series, []).append(
                {"series": series, "ts": iso_utc(ts), "value": value, "unit": unit, "source": self.source})

    def flush(self) -> int:
        n = 0
        for series, items in self._batch.items():
            self.sink.send(topics.READINGS, series, items)
            n += len(items)
        self._batch.clear()
        self.count += n
        if n:
            self._job_beat(n)
        return n

    def _job_beat(self, n: int) -> None:
        """Freshness of the port (`ingest.serial.<port>` / `ingest.modbus.<port>` on turnpoint.jobs.v1)."""
        job = "ingest." + self.source.replace(":", ".", 1)
        item = self._beats.beat(job, n)
        if item is not None:
            self.sink.send(topics.JOBS, job, [item])
