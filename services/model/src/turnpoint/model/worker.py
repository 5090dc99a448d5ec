"""The stream worker: daily bars and readings in, batched forecasts and anomaly scores out.

At-least-once: a batch's offsets are committed only after its predictions (and inference log messages)
were delivered. Feature windows live in memory; after a restart or a rebalance each newly assigned
partition is re-read from `warmup_messages` before its committed offset to rebuild them without
publishing again. Bad records go to `turnpoint.dlq.predictions.v1` with reason and position; a record
that raises anything is dead-lettered alone (`processing-failed`) and the rest of its batch goes on. A bar
or reading after the clock plus the allowed skew (SPEC 2) is a dead letter `future` (that item alone): it
neither enters a window nor is scored.
The commit order (producer flushed, then offsets committed) is `turnpoint.core.checkpoint.Checkpoint`'s.
The loop (back-off and rewind after a failed batch) is `turnpoint.core.consume.ConsumeLoop`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from turnpoint.core import topics
from turnpoint.core.checkpoint import Checkpoint
from turnpoint.core.consume import ConsumeLoop, assign_from, commit, dead_letter, records, rewind, warm_start
from turnpoint.core.contracts import PriceBar, Reading
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.freshness import JobBeats
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import envelopes, produce
from turnpoint.core.serde import raw_items, validate_item, validate_items
from turnpoint.core.skew import FUTURE, Bound, FutureSkew
from turnpoint.model import ecs, metrics
from turnpoint.model.errors import ModelUnavailable
from turnpoint.model.predictor import BatchResult, Predictor
from turnpoint.model.state import History

log = get_logger(__name__)
DLQ_NAME = topics.MODEL_DLQ
KEEP = 128  # values kept per symbol/series: the widest model window plus room for revisions


@dataclass(slots=True)
class Job:
    target: str
    asof: str  # ISO-8601 instant (bars: midnight UTC of the bar date)
    window: list[float]
    event_id: str
    previous: str | None = None  # the bar date before this one (for realised forecast errors)


@dataclass
class Topics:
    prices: str
    readings: str
    predictions: str
    inference_log: str
    dead_letters: str
    jobs: str | None = None  # freshness of model.forecast / model.anomaly (None: not published)

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        names = topics.Names(prefix)
        return cls(
            names.topic(topics.PRICES), names.topic(topics.READINGS), names.topic(topics.PREDICTIONS),
            names.topic(topics.INFERENCE_LOG), names.topic(topics.MODEL_DLQ), names.topic(topics.JOBS),
        )


@dataclass
class StreamWorker:
    consumer: Any
    producer: Any
    predictor: Predictor
    topics: Topics
    batch_max: int = 2000
    poll_timeout: float = 0.2
    flush_timeout: float = 30.0
    warmup_messages: int = 2000
    service: str = "turnpoint-model"
    skew: FutureSkew = field(default_factory=FutureSkew)
    bars: dict[str, History[str]] = field(default_factory=dict)
    readings: dict[str, History[str]] = field(default_factory=dict)
    last_h1: dict[str, tuple[str, float]] = field(default_factory=dict)
    beats: JobBeats = field(default_factory=JobBeats)
    alive: bool = False
    last_poll: float = 0.0
    assigned: int = 0
    _replay_until: dict[tuple[str, int], int] = field(default_factory=dict)
    checkpoint: Checkpoint = field(init=False)
    _lag_at: float = 0.0
    _versions: dict[str, str | None] = field(default_factory=dict)  # model version per kind last seen by step
    _undo: dict[int, tuple[dict[str, History[str]], dict[str, History[str] | None]]] = field(default_factory=dict)
    _h1_before: dict[str, tuple[str, float]] | None = None

    def __post_init__(self) -> None:
        self.checkpoint = Checkpoint(self.consumer, self.producer, service="model", flush_timeout=self.flush_timeout)

    # ------------------------------------------------------------------ Kafka plumbing

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        def start(tp: TopicPartition) -> int:
            if tp.offset < 0:  # nothing committed yet: read from the beginning, nothing to replay
                return OFFSET_BEGINNING
            self._replay_until[(tp.topic, tp.partition)] = tp.offset
            return warm_start(consumer, tp, self.warmup_messages)

        self.assigned += len(partitions)
        assign_from(consumer, partitions, start)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned = max(0, self.assigned - len(partitions))
        for tp in partitions:
            self._replay_until.pop((tp.topic, tp.partition), None)
        self.checkpoint.forget([(tp.topic, tp.partition) for tp in partitions])

    def _dead_letter(self, msg: Any, reason: str, detail: str, payload: bytes | None = None) -> None:
        """`payload`: the one item dead-lettered (default: the whole message)."""
        metrics.DEAD_LETTERS.labels(reason).inc()
        dead_letter(self.producer, self.topics.dead_letters, msg, reason, detail, service=self.service,
                    payload=payload, on_delivery=self.checkpoint.deliveries)

    # ------------------------------------------------------------------ records -> jobs

    def _history(self, histories: dict[str, History[str]], target: str) -> History[str]:
        """The target's window, remembered as it was before this batch the first time the batch touches it."""
        hist = histories.get(target)
        undo = self._undo.setdefault(id(histories), (histories, {}))[1]
        if target not in undo:
            undo[target] = None if hist is None else History(hist.keep, list(hist.times), list(hist.values))
        if hist is None:
            hist = histories[target] = History(KEEP)
        return hist

    def _roll_back(self) -> None:
        """A batch failed before its commit: put the windows back as they were, so the retry from the
        committed offsets sees the same state and publishes the same predictions an uninterrupted run would."""
        for histories, undo in self._undo.values():
            for target, before in undo.items():
                if before is None:
                    histories.pop(target, None)
                else:
                    histories[target] = before
        self._undo.clear()
        if self._h1_before is not None:
            self.last_h1 = self._h1_before

    def _future(self, msg: Any, replay: bool, index: int, detail: str | None, raw: Any) -> bool:
        """Whether item `index` is after the clock plus the skew: then it is dead-lettered alone (not on replay)."""
        if detail is None:
            return False
        if not replay:
            self._dead_letter(msg, FUTURE, f"item {index}: {detail}", orjson.dumps(raw))
        return True

    def _bars(self, msg: Any, replay: bool, jobs: dict[tuple[str, str], Job], bound: Bound) -> None:
        """Update the symbols' windows; forecast only the newest bar of each symbol in the message.

        A backfill message of hundreds of days yields one forecast per symbol, "as of now", not one per
        historical day (historical forecasts come from `turnpoint model backtest`). Live traffic sends one
        bar per message, so every new bar is still forecast."""
        touched: dict[str, int] = {}  # symbol -> index of its last new item in this message
        items = raw_items(msg.value())
        try:  # a valid message in one pass of pydantic-core (half the per-item cost of a backfill's bars)
            valid: list[PriceBar] | None = validate_items(PriceBar, items)
        except InvalidRecord:
            valid = None  # judged item by item below: those before the bad one are applied, as ever
        try:
            for idx, raw in enumerate(items):
                bar = valid[idx] if valid is not None else validate_item(PriceBar, raw)
                if bar.interval != "day" or self._future(msg, replay, idx, bound.date("start", bar.start), raw):
                    continue
                hist = self._history(self.bars, bar.symbol)
                outcome = hist.update(bar.start.isoformat(), bar.close)
                if not replay and outcome not in ("duplicate", "too-old"):
                    touched[bar.symbol] = idx
        finally:  # items before a bad one were applied: their symbols are forecast all the same
            for symbol, idx in touched.items():
                event = ecs.stable_id(msg.topic(), str(msg.partition()), str(msg.offset()), str(idx))
                self._bar_job(symbol, event, jobs)

    def _bar_job(self, symbol: str, event_id: str, jobs: dict[tuple[str, str], Job]) -> None:
        hist = self.bars[symbol]
        latest = hist.times[-1]
        jobs.pop((symbol, latest), None)
        jobs[(symbol, latest)] = Job(symbol, f"{latest}T00:00:00Z", list(hist.values[-KEEP:]), event_id,
                                     hist.previous_time())

    def _catch_up(self, bar_jobs: dict[tuple[str, str], Job], reading_jobs: dict[tuple[str, str], Job]) -> None:
        """When a model version appears while running, score what it missed: the latest bar of every symbol
        and the last window of every series held in memory (data that came before any model existed)."""
        for kind, histories, jobs in (("forecast", self.bars, bar_jobs), ("anomaly", self.readings, reading_jobs)):
            model = self.predictor.store.get(kind)
            version = None if model is None else model.version
            if kind not in self._versions or version == self._versions[kind]:
                self._versions.setdefault(kind, version)
                continue
            self._versions[kind] = version
            if model is None:
                continue
            queued = {target for target, _ in jobs}
            missed = [t for t, h in histories.items() if t not in queued and h.times]
            for target in missed:
                event = ecs.stable_id("catch-up", model.name, model.version, target)
                if kind == "forecast":
                    self._bar_job(target, event, jobs)
                else:
                    hist = histories[target]
                    jobs[(target, hist.times[-1])] = Job(target, hist.times[-1], list(hist.values[-KEEP:]), event)
            metrics.CAUGHT_UP.labels(kind).inc(len(missed))
            log.info("model.catch_up", kind=kind, version=version, targets=len(missed))

    def _readings(self, msg: Any, replay: bool, jobs: dict[tuple[str, str], Job], bound: Bound) -> None:
        for idx, raw in enumerate(raw_items(msg.value())):
            reading = validate_item(Reading, raw)
            if self._future(msg, replay, idx, bound.instant("ts", reading.ts), raw):
                continue
            ts = ecs.iso(reading.ts)
            hist = self._history(self.readings, reading.series)
            outcome = hist.update(ts, reading.value)
            if replay:
                continue
            if outcome == "revised":
                metrics.SKIPPED.labels("late_reading_not_rescored").inc()
            if outcome not in ("new", "revised-latest"):
                continue
            jobs.pop((reading.series, ts), None)
            jobs[(reading.series, ts)] = Job(
                reading.series, ts, list(hist.values[-KEEP:]),
                ecs.stable_id(msg.topic(), str(msg.partition()), str(msg.offset()), str(idx)),
            )

    # ------------------------------------------------------------------ jobs -> predictions

    def _realise(self, jobs: list[Job]) -> Any:
        def realise(values: list[list[float]]) -> list[dict[str, Any] | None]:
            out: list[dict[str, Any] | None] = []
            for job, v in zip(jobs, values, strict=True):
                prev = self.last_h1.get(job.target)
                actual = job.window[-1]
                if prev is not None and job.previous is not None and prev[0] == job.previous:
                    err = actual - prev[1]
                    # a close of 0 has no percentage error (and must not fail the other symbols' forecasts)
                    pct = abs(err) / abs(actual) * 100 if actual else None
                    out.append({"asof": f"{prev[0]}T00:00:00Z", "predicted": prev[1], "actual": actual, "error": err,
                                "abs_pct_error": pct})
                else:
                    out.append(None)
                self.last_h1[job.target] = (job.asof[:10], v[0])
            return out

        return realise

    def _infer(self, kind: str, jobs: list[Job]) -> None:
        model = self.predictor.store.get(kind)
        if model is None:
            metrics.SKIPPED.labels("no_model").inc(len(jobs))
            return
        ready = [j for j in jobs if len(j.window) >= model.width]
        if len(ready) < len(jobs):
            metrics.SKIPPED.labels("short_window").inc(len(jobs) - len(ready))
        # the predictor refuses a whole batch for one window it cannot score (a close of 0, say): leave
        # those out, so one symbol's data never skips every other symbol's forecast
        usable = [j for j in ready if _scorable(j.window[-model.width :], positive=kind == "forecast")]
        if len(usable) < len(ready):
            metrics.SKIPPED.labels("invalid_window").inc(len(ready) - len(usable))
        ready = usable
        for start in range(0, len(ready), self.batch_max):
            part = ready[start : start + self.batch_max]
            targets = [j.target for j in part]
            asofs: list[str | None] = [j.asof for j in part]
            matrix = [j.window[-model.width :] for j in part]
            traces = [ecs.stable_id(model.name, model.version, j.target, j.asof) for j in part]
            events = [ecs.stable_id(j.event_id, model.name, model.version) for j in part]
            try:
                if kind == "forecast":
                    result = self.predictor.forecast(targets, asofs, matrix, source="stream", trace_ids=traces,  # type: ignore[arg-type]
                                                     event_ids=events, realise=self._realise(part), model=model)
                else:
                    result = self.predictor.score(targets, asofs, matrix, source="stream", trace_ids=traces,  # type: ignore[arg-type]
                                                  event_ids=events, model=model)
            except ModelUnavailable:
                metrics.SKIPPED.labels("no_model").inc(len(part))
                continue
            self._publish(result, part)

    def _publish(self, result: BatchResult, jobs: list[Job]) -> None:
        by_target: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for job, values, trace in zip(jobs, result.values, result.trace_ids, strict=True):
            by_target[job.target].append({
                "model": result.model, "version": result.version, "kind": result.kind, "target": job.target,
                "asof": job.asof, "horizon": result.horizon, "values": values, "trace_id": trace,
            })
        for target, items in by_target.items():
            for value in envelopes(items):
                produce(self.producer, self.topics.predictions, value, target.encode(),
                        on_delivery=self.checkpoint.deliveries)
        self._job_beat(f"model.{result.kind}", len(jobs))

    def _job_beat(self, job: str, rows: int) -> None:
        """Freshness of the model's stream (turnpoint.jobs.v1), flushed and committed with the batch."""
        item = self.beats.beat(job, rows) if self.topics.jobs else None
        if item is not None and self.topics.jobs:
            for value in envelopes([item]):
                produce(self.producer, self.topics.jobs, value, job.encode(), on_delivery=self.checkpoint.deliveries)

    # ------------------------------------------------------------------ the loop

    def step(self) -> int:
        """Consume one batch, publish its predictions, commit; return the number of messages handled.

        The windows and offsets move together: a batch that fails before its commit is rolled back."""
        self._undo.clear()
        self._h1_before = dict(self.last_h1)
        try:
            return self._step()
        except BaseException:
            self._roll_back()
            raise

    def _step(self) -> int:
        msgs = self.consumer.consume(num_messages=self.batch_max, timeout=self.poll_timeout)
        self.last_poll = time.monotonic()
        self._update_lag()
        bar_jobs: dict[tuple[str, str], Job] = {}
        reading_jobs: dict[tuple[str, str], Job] = {}
        self._catch_up(bar_jobs, reading_jobs)
        if not msgs and not bar_jobs and not reading_jobs:
            return 0
        checkpoint = self.checkpoint
        bound = self.skew.bound()
        for msg in records(msgs, checkpoint):
            topic, part, off = msg.topic(), msg.partition(), msg.offset()
            replay = off < self._replay_until.get((topic, part), -1)
            metrics.RECORDS.labels(topic).inc()
            try:
                if topic == self.topics.prices:
                    self._bars(msg, replay, bar_jobs, bound)
                elif topic == self.topics.readings:
                    self._readings(msg, replay, reading_jobs, bound)
            except InvalidRecord as exc:
                if not replay:
                    self._dead_letter(msg, exc.reason, exc.detail)
            except Exception as exc:  # one record's failure must not take its batch with it
                if not replay:
                    self._dead_letter(msg, "processing-failed", f"{type(exc).__name__}: {exc}"[:1000])
        self._infer("forecast", list(bar_jobs.values()))
        self._infer("anomaly", list(reading_jobs.values()))
        commit(checkpoint)  # a refused partition is logged by name and redelivered to its next owner
        return len(msgs)

    def _update_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < 5:
            return
        self._lag_at = now
        try:
            lag = 0
            for tp in self.consumer.position(self.consumer.assignment()):
                _low, high = self.consumer.get_watermark_offsets(tp, timeout=2, cached=False)
                lag += max(0, high - max(tp.offset, 0))
            metrics.LAG.set(lag)
        except Exception as exc:  # lag is informative; never stop the stream for it
            log.warning("kafka.lag_failed", error=str(exc)[:200])

    def _rewind(self) -> None:
        """After a failed delivery: go back to the committed offsets (state updates are idempotent)."""
        rewind(self.consumer, self.checkpoint)

    def run(self, stop: threading.Event) -> None:
        loop = ConsumeLoop(self.consumer, self.producer, [self.topics.prices, self.topics.readings], self.step,
                           "worker.batch_failed", rewind=self._rewind, on_failure=_count_failure,
                           on_assign=self._on_assign, on_revoke=self._on_revoke, liveness=self)
        loop.run(stop)


def _count_failure(exc: Exception) -> None:
    metrics.BATCH_FAILURES.labels(type(exc).__name__).inc()


def _scorable(window: list[float], *, positive: bool) -> bool:
    """Whether the predictor accepts this window (`predictor.check_windows`): finite, and > 0 for closes."""
    return all(math.isfinite(v) and (v > 0 or not positive) for v in window)
