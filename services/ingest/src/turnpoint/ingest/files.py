"""Publishing whole files: market bars, sensor-log readings and symbol metadata.

These are the functions behind `turnpoint ingest market|readings|symbols --file` and the drop-folder
watcher; the demo runner calls `publish_market_file` in-process. Each returns a `Summary`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException

from turnpoint.core import topics
from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.freshness import job_item
from turnpoint.core.kafka import ensure_topics
from turnpoint.core.settings import TurnpointSettings
from turnpoint.core.topics import Names, TopicSpec
from turnpoint.ingest.formats import Rejected, read_bars, read_readings, read_symbols
from turnpoint.ingest.publisher import Publisher

RejectReport = Callable[[Path, Rejected], None]
Progress = Callable[[int], None]  # called with the number of rows read so far


@dataclass
class Summary:
    """What one file produced. `ok` when every valid row was acknowledged by the broker."""

    file: str
    kind: str
    rows: int = 0
    published: int = 0
    rejected: int = 0
    skipped: int = 0
    messages: int = 0
    keys: int = 0
    failed: int = 0
    seconds: float = 0.0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}

    def line(self) -> str:
        rate = self.published / self.seconds if self.seconds > 0 else 0.0
        text = (f"{self.file}: {self.rows} rows, {self.published} {self.kind} published in {self.messages} "
                f"messages ({self.keys} keys), {self.rejected} rejected")
        if self.skipped:
            text += f", {self.skipped} outside the window"
        if self.failed:
            text += f", {self.failed} NOT acknowledged by Kafka"
        return text + f", {self.seconds:.2f}s ({rate:,.0f}/s)"


def _batch_size(settings: TurnpointSettings) -> int:
    ingest = getattr(settings, "ingest", None)
    return int(getattr(ingest, "batch_size", 500))


def prepare_topics(settings: TurnpointSettings, specs: Iterable[TopicSpec]) -> None:
    """Create the topics a command writes to (and their dead-letter topics) if missing."""
    prefixed = Names(settings.kafka.topic_prefix)
    names: list[str] = []
    for spec in specs:
        names.append(prefixed.topic(spec))
        if spec.dead_letter:
            names.append(prefixed.dead_letter(spec))
    try:
        ensure_topics(settings.kafka, names, timeout=5.0)
    except KafkaException as exc:
        msg = (f"no Kafka broker answered at {settings.kafka.bootstrap_servers} ({exc}); start one "
               f"(`turnpoint dev up`) or set TURNPOINT_KAFKA__BOOTSTRAP_SERVERS")
        raise InfrastructureUnavailable(msg) from None


HOLD_ROWS = 200_000  # rows of a file held before a part is sent (about 200 MB of parsed bars)


def _publish(
    settings: TurnpointSettings, spec: TopicSpec, kind: str, path: Path,
    rows: Iterable[dict[str, Any] | Rejected], *, publisher: Publisher | None, report: RejectReport | None,
    progress: Progress | None, select: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    sort_field: str | None = None, timeout: float = 60.0, hold_rows: int = HOLD_ROWS,
) -> Summary:
    started = time.perf_counter()
    summary = Summary(file=str(path), kind=kind)
    own = publisher is None
    if own:
        prepare_topics(settings, [spec, topics.JOBS])
    pub = publisher if publisher is not None else Publisher(settings.kafka)
    acked_before = pub.stats.items_acked
    held: dict[str, list[dict[str, Any]]] = {}  # rows per key not sent yet, in file order
    n_held = n_valid = 0
    keys: set[str] = set()
    key_field = spec.key_field
    batch = _batch_size(settings)

    def send_held() -> None:
        for key, items in held.items():
            if sort_field is not None:
                items.sort(key=itemgetter(sort_field))  # stable: a later revision stays after the earlier row
            if select is not None:
                kept = select(items)
                summary.skipped += len(items) - len(kept)
                items = kept
            summary.messages += pub.send_batched(spec, key, items, batch)
        held.clear()

    for row in rows:
        summary.rows += 1
        if isinstance(row, Rejected):
            summary.rejected += 1
            summary.reasons[row.reason] = summary.reasons.get(row.reason, 0) + 1
            if report is not None:
                report(path, row)
            pub.dead_letter(spec, row.reason, f"{path}:{row.line}: {row.detail}", row.raw, key=path.name)
        else:
            key = row[key_field]
            group = held.get(key)
            if group is None:
                group = held[key] = []
                keys.add(key)
            group.append(row)
            n_valid += 1
            n_held += 1
            # A big file is sent in parts of `hold_rows` rows, each part's keys in their order: memory stays
            # bounded (a 5M-bar backfill held 4.5 GB). Later rows of a key go out after its earlier part, so
            # revisions still follow what they revise; the results, absolute and exact, do not depend on
            # the order of a key's bars. A per-key selection (the last days) needs the whole file at once.
            if select is None and n_held >= hold_rows:
                send_held()
                n_held = 0
        if progress is not None and summary.rows % 5000 == 0:
            progress(summary.rows)
    if progress is not None:
        progress(summary.rows)
    send_held()
    summary.keys = len(keys)
    pub.flush(timeout)
    summary.published = pub.stats.items_acked - acked_before
    _job_record(pub, f"ingest.{'file' if own else 'drop'}.{kind}", summary, path, timeout)
    # failed or still in flight after the timeout: either way not acknowledged
    summary.failed = n_valid - summary.skipped - summary.published
    summary.seconds = time.perf_counter() - started
    return summary


def _job_record(pub: Publisher, job: str, summary: Summary, path: Path, timeout: float) -> None:
    """A file published (`turnpoint ingest ...`: ingest.file.<kind>; the drop folder: ingest.drop.<kind>)
    is a success of its job on turnpoint.jobs.v1, once at least one of its records was acknowledged."""
    if summary.published <= 0:
        return
    pub.send(topics.JOBS, job, [job_item(job, summary.published, f"{path.name}: {summary.published} published")])
    pub.flush(timeout)


def last_days_filter(days: int) -> Callable[[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Keep the bars of the last `days` calendar days before each symbol's newest bar (the daily re-send)."""

    def select(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not items:
            return items
        newest = dt.date.fromisoformat(items[-1]["date"])
        first = (newest - dt.timedelta(days=days - 1)).isoformat()
        return [it for it in items if it["date"] >= first]

    return select


def publish_market_file(
    settings: TurnpointSettings, path: Path | str, symbol: str | None = None, *,
    last_days: int | None = None, publisher: Publisher | None = None, report: RejectReport | None = None,
    progress: Progress | None = None, hold_rows: int = HOLD_ROWS,
) -> Summary:
    """Publish a market CSV (SPEC, Yahoo or Korean headers) to `turnpoint.bars.v1`, per symbol in date order
    (within each part of `hold_rows` rows of a big file)."""
    path = Path(path)
    return _publish(
        settings, topics.BARS, "bars", path, read_bars(path, symbol), publisher=publisher, report=report,
        progress=progress, select=last_days_filter(last_days) if last_days else None, sort_field="date",
        hold_rows=hold_rows,
    )


def publish_readings_file(
    settings: TurnpointSettings, path: Path | str, *, publisher: Publisher | None = None,
    report: RejectReport | None = None, progress: Progress | None = None,
) -> Summary:
    """Publish a sensor log (series,ts,value[,unit]) to `turnpoint.readings.v1`, per series in file order."""
    path = Path(path)
    return _publish(settings, topics.READINGS, "readings", path, read_readings(path, source=f"file:{path.name}"),
                    publisher=publisher, report=report, progress=progress)


def publish_symbols_file(
    settings: TurnpointSettings, path: Path | str, *, publisher: Publisher | None = None,
    report: RejectReport | None = None, progress: Progress | None = None,
) -> Summary:
    """Publish symbol metadata to the compacted `turnpoint.symbols.v1` (one message per symbol, latest wins)."""
    path = Path(path)
    return _publish(settings, topics.SYMBOLS, "symbols", path, read_symbols(path),
                    publisher=publisher, report=report, progress=progress)
