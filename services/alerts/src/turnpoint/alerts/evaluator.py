"""The evaluator: the pipeline's results in, alerts out on `turnpoint.alerts.v1` (keyed by subject).

It consumes outliers, rebound states, legs, predictions, the jobs topic and every dead-letter topic, runs
the rules (turnpoint.core.alerts.evaluate), produces the alerts, waits for the broker to take them and
only then commits the batch's offsets (at-least-once; the ids make duplicates harmless).

Legs and rebound states (millions of items in a backfill) are read as JSON and only the items a rule could
fire for are validated against their contract (`could_alert_leg`, `could_alert_drop`: necessary conditions
of the rules, on the raw fields): validating every item was two thirds of the evaluator's time, and the
evaluator was the busiest process of the 5M-bar backfill (163 CPU-s, more than the transform). An envelope
that cannot be read, and an invalid item a rule could fire for, are still this service's dead letters; an
invalid item no rule looks at changes no alert and is the loader's dead letter (it validates everything).

State: the stale tracker is rebuilt on every start by re-reading the (compacted) jobs topic from the
beginning, and job_info (the loader's tables) is read from PostgreSQL every `jobs_poll_s`; the dead-letter
windows are rebuilt by re-reading `warmup_messages` before the committed offset. Alerts from the re-read
carry the ids already sent, so the notifier does not send them again.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from turnpoint.alerts import metrics
from turnpoint.alerts.store import AlertStore
from turnpoint.core import topics
from turnpoint.core.alerts.evaluate import (
    DeadLetterCounter,
    StaleTracker,
    anomaly_alerts,
    could_alert_drop,
    could_alert_leg,
    dead_letter_subject,
    drop_alerts,
    leg_alerts,
    outlier_alerts,
)
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import Rule, RuleBook, RulesFile
from turnpoint.core.checkpoint import Checkpoint
from turnpoint.core.consume import ConsumeLoop, assign_from, commit, dead_letter, records, warm_start
from turnpoint.core.contracts import DeadLetter, JobInfo, Leg, Outlier, Prediction, ReboundState, utcnow
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.observability import get_logger
from turnpoint.core.produce import Headers, envelopes, produce
from turnpoint.core.serde import decode_items, raw_items, validate_items

log = get_logger(__name__)


@dataclass(frozen=True)
class Topics:
    outliers: str
    states: str
    legs: str
    predictions: str
    jobs: str
    alerts: str
    dead_letters: str  # ours
    dlq: tuple[str, ...]  # every dead-letter topic of the catalogue (ours included)
    prefix: str = ""

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        return cls(
            topics.OUTLIERS.full_name(prefix), topics.STATES.full_name(prefix), topics.LEGS.full_name(prefix),
            topics.PREDICTIONS.full_name(prefix), topics.JOBS.full_name(prefix), topics.ALERTS.full_name(prefix),
            f"{prefix}{topics.ALERTS.dead_letter}", tuple(f"{prefix}{n}" for n in topics.dead_letter_topics()), prefix,
        )

    def inputs(self) -> list[str]:
        return [self.outliers, self.states, self.legs, self.predictions, self.jobs, *self.dlq]


@dataclass
class Evaluator:
    consumer: Any
    producer: Any
    book: RuleBook
    topics: Topics
    batch_max: int = 2000
    poll_timeout: float = 0.1
    tick_s: float = 1.0
    jobs_poll_s: float = 10.0
    warmup_messages: int = 5000
    flush_timeout: float = 30.0
    service: str = "turnpoint-alerts"
    store: AlertStore | None = None  # job_info of the loader's tables; None: the jobs topic only
    stale: StaleTracker = field(default_factory=StaleTracker)
    dead: DeadLetterCounter = field(default_factory=DeadLetterCounter)
    alive: bool = False
    last_poll: float = 0.0
    assigned: int = 0
    _job_partition: dict[str, tuple[str, int]] = field(default_factory=dict)
    _ticked: float = 0.0
    _polled: float = 0.0
    checkpoint: Checkpoint = field(init=False)

    def __post_init__(self) -> None:
        self.checkpoint = Checkpoint(self.consumer, self.producer, service=self.service, flush_timeout=self.flush_timeout)

    # ------------------------------------------------------------------ Kafka plumbing

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        def start(tp: TopicPartition) -> int:
            if tp.topic == self.topics.jobs:  # compacted and small: the whole history rebuilds the tracker
                return OFFSET_BEGINNING
            if tp.topic in self.topics.dlq and tp.offset >= 0:  # the dead-letter windows
                return warm_start(consumer, tp, self.warmup_messages)
            return tp.offset if tp.offset >= 0 else OFFSET_BEGINNING

        self.assigned += len(partitions)
        assign_from(consumer, partitions, start)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assigned = max(0, self.assigned - len(partitions))
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for job, where in list(self._job_partition.items()):
            if where in gone:
                self.stale.jobs.pop(job, None)
                self._job_partition.pop(job, None)

    def _dead_letter(self, msg: Any, exc: InvalidRecord) -> None:
        metrics.DEAD_LETTERS.labels(exc.reason).inc()
        dead_letter(self.producer, self.topics.dead_letters, msg, exc.reason, exc.detail, service=self.service,
                    on_delivery=self.checkpoint.deliveries)

    def _produce(self, topic: str, key: bytes | None, value: bytes, headers: Headers | None = None) -> None:
        produce(self.producer, topic, value, key, headers=headers, on_delivery=self.checkpoint.deliveries)

    # ------------------------------------------------------------------ records -> alerts

    def evaluate(self, rules: RulesFile, msg: Any) -> list[Alert]:
        """The alerts of one message (InvalidRecord when it is not a valid envelope of its topic)."""
        return self.evaluate_with(rules.rules, msg)

    def evaluate_with(self, r: list[Rule], msg: Any) -> list[Alert]:
        topic, value = msg.topic(), msg.value()
        t = self.topics
        if topic == t.outliers:
            return [a for o in decode_items(Outlier, value) for a in outlier_alerts(r, o)]
        if topic == t.states:
            wanted = [i for i in raw_items(value) if could_alert_drop(r, i)]
            return [a for s in validate_items(ReboundState, wanted) for a in drop_alerts(r, s)]
        if topic == t.legs:
            wanted = [i for i in raw_items(value) if could_alert_leg(r, i)]
            return [a for leg in validate_items(Leg, wanted) for a in leg_alerts(r, leg)]
        if topic == t.predictions:
            return [a for p in decode_items(Prediction, value) for a in anomaly_alerts(r, p)]
        if topic == t.jobs:
            out = []
            for info in decode_items(JobInfo, value):
                self._job_partition[info.job] = (topic, msg.partition())
                out += self.stale.observe(r, info)
            return out
        if topic in t.dlq:
            subject = dead_letter_subject(topic, t.prefix)
            return [a for i, d in enumerate(decode_items(DeadLetter, value))
                    for a in self.dead.observe(r, subject, d, (msg.partition(), msg.offset(), i))]
        return []

    def _publish(self, alerts: list[Alert]) -> None:
        by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for a in alerts:
            by_subject[a.subject].append(a.model_dump(mode="json"))
            metrics.FIRED.labels(a.rule, a.status).inc()
        for subject, items in by_subject.items():
            for value in envelopes(items):
                self._produce(self.topics.alerts, subject.encode(), value)

    def _clock(self, rules: RulesFile) -> list[Alert]:
        now = time.monotonic()
        out: list[Alert] = []
        if self.store is not None and now - self._polled >= self.jobs_poll_s:
            self._polled = now
            try:
                for row in self.store.jobs():
                    out += self.stale.observe(rules.rules, JobInfo.model_validate(row))
            except Exception as exc:  # freshness from the database is a bonus; the topic is the main path
                log.warning("alerts.job_info_unavailable", reason=str(exc)[:300])
                self.store.reset()
        if now - self._ticked >= self.tick_s:
            self._ticked = now
            out += self.stale.tick(rules.rules, utcnow())
        return out

    def step(self) -> int:
        """Consume one batch, publish its alerts (and the clock's), flush, commit; return the messages handled."""
        msgs = self.consumer.consume(num_messages=self.batch_max, timeout=self.poll_timeout)
        self.last_poll = time.monotonic()
        rules = self.book.current()
        alerts: list[Alert] = []
        checkpoint = self.checkpoint
        for msg in records(msgs, checkpoint):
            topic, part, off = msg.topic(), msg.partition(), msg.offset()
            metrics.RECORDS.labels(topic).inc()
            try:
                alerts += self.evaluate(rules, msg)
            except InvalidRecord as exc:
                if topic != self.topics.dead_letters:  # never dead-letter our own dead letters
                    self._dead_letter(msg, exc)
                else:
                    log.error("record.invalid_dead_letter", topic=topic, partition=part, offset=off, detail=exc.detail)
        alerts += self._clock(rules)
        if not alerts and checkpoint.empty:
            return 0
        self._publish(alerts)
        # the alerts (and dead letters) acknowledged, then the offsets: ProducerFlushFailed leaves them uncommitted;
        # a refused partition was logged by name and is re-read by its next owner (the ids make duplicates harmless)
        commit(checkpoint)
        return len(msgs)

    def run(self, stop: threading.Event) -> None:
        loop = ConsumeLoop(self.consumer, self.producer, self.topics.inputs(), self.step, "alerts.batch_failed",
                           checkpoint=self.checkpoint, on_failure=lambda exc: metrics.batch_failed("evaluator", exc),
                           on_assign=self._on_assign, on_revoke=self._on_revoke, liveness=self)
        loop.run(stop)
