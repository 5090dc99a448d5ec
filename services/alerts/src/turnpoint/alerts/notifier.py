"""The notifier: alerts from `turnpoint.alerts.v1` into the `alert` table, then to each rule's webhook.

- The consumer thread records each batch (idempotent by (id, status), cooldowns applied), hands the new
  pending alerts to the delivery pool, and only then commits the batch's offsets.
- Delivery workers POST; outcomes are written in batches by the recorder thread (delivered, or pending
  with the next attempt after an exponential, jittered backoff).
- The retry thread claims due pending alerts from the table (a lease, so two claimers never share one),
  which also picks up everything that was in flight when a previous notifier died.
An alert that keeps failing stays pending and visible in /v1/alerts; nothing is ever dropped.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from turnpoint.alerts import metrics
from turnpoint.alerts.sender import AsyncSender
from turnpoint.alerts.settings import AlertsConfig
from turnpoint.alerts.store import AlertStore, Outcome
from turnpoint.core.alerts.delivery import backoff_s
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import RuleBook
from turnpoint.core.checkpoint import Checkpoint
from turnpoint.core.consume import ConsumeLoop, commit, dead_letter, records
from turnpoint.core.contracts import utcnow
from turnpoint.core.errors import InvalidRecord
from turnpoint.core.observability import get_logger
from turnpoint.core.serde import decode_items

log = get_logger(__name__)


@dataclass
class Notifier:
    consumer: Any
    producer: Any  # dead letters only
    dsn: str
    book: RuleBook
    cfg: AlertsConfig
    topic: str
    dead_letters: str
    service: str = "turnpoint-alerts"
    sender: AsyncSender | None = None
    alive: bool = False
    last_poll: float = 0.0
    _inflight: set[tuple[str, str]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _outcomes: queue.Queue[Outcome] = field(default_factory=queue.Queue)
    _queued: int = 0
    _threads: list[threading.Thread] = field(default_factory=list)
    checkpoint: Checkpoint = field(init=False)

    def __post_init__(self) -> None:
        self.checkpoint = Checkpoint(self.consumer, self.producer, service=self.service)

    # ------------------------------------------------------------------ delivery

    def _submit(self, items: list[tuple[Alert, int]]) -> None:
        assert self.sender is not None
        for alert, attempts in items:
            key = (alert.id, alert.status)
            with self._lock:
                if key in self._inflight:
                    continue
                self._inflight.add(key)
                self._queued += 1
            self.sender.submit(self._deliver(alert, attempts))

    async def _deliver(self, alert: Alert, attempts: int) -> None:
        try:
            await self._attempt(alert, attempts)
        finally:
            with self._lock:
                self._queued -= 1

    async def _attempt(self, alert: Alert, attempts: int) -> None:
        assert self.sender is not None
        started = utcnow()
        rule = self.book.current().by_name(alert.rule)
        if rule is None:
            outcome = Outcome(alert.id, alert.status, False, started, utcnow(),
                              f"rule {alert.rule!r} is not in the rules file; kept pending", None, self.cfg.retry_cap_s)
            metrics.FAILED.labels(alert.rule, "no_rule").inc()
        else:
            t0 = time.perf_counter()
            r = await self.sender.send(rule, alert)
            metrics.DELIVERY_SECONDS.labels(alert.rule).observe(time.perf_counter() - t0)
            wait = 0.0 if r.ok else backoff_s(attempts + 1, base=self.cfg.retry_base_s, cap=self.cfg.retry_cap_s)
            outcome = Outcome(alert.id, alert.status, r.ok, started, utcnow(), r.error, r.code, wait)
            if r.ok:
                metrics.DELIVERED.labels(alert.rule).inc()
            else:
                metrics.FAILED.labels(alert.rule, "http" if r.code else "connect").inc()
        self._outcomes.put(outcome)

    def _record_loop(self, stop: threading.Event) -> None:
        store = AlertStore(self.dsn)
        pending: list[Outcome] = []
        try:
            while not (stop.is_set() and self._outcomes.empty() and not pending):
                try:
                    pending.append(self._outcomes.get(timeout=0.05))
                    while len(pending) < 5000:
                        pending.append(self._outcomes.get_nowait())
                except queue.Empty:
                    pass
                if not pending:
                    continue
                try:
                    store.record(pending)
                except Exception as exc:  # the database is away: keep the outcomes and try again
                    log.error("alerts.record_failed", reason=str(exc)[:300], outcomes=len(pending))
                    store.reset()
                    stop.wait(1.0)
                    if stop.is_set():
                        break
                    continue
                with self._lock:
                    for o in pending:
                        self._inflight.discard((o.id, o.status))
                pending = []
        finally:
            store.close()

    def _retry_loop(self, stop: threading.Event) -> None:
        store = AlertStore(self.dsn)
        last_count = 0.0
        try:
            while not stop.is_set():
                try:
                    if self.sender is not None and self._queued < self.cfg.workers * 4:
                        due = store.claim_due(1000, self.cfg.lease_s)
                        self._submit(due)
                    if time.monotonic() - last_count > 5:
                        metrics.PENDING.set(store.pending())
                        last_count = time.monotonic()
                except Exception as exc:
                    log.error("alerts.retry_scan_failed", reason=str(exc)[:300])
                    store.reset()
                stop.wait(0.25)
        finally:
            store.close()

    # ------------------------------------------------------------------ consuming

    def _dead_letter(self, msg: Any, exc: InvalidRecord) -> None:
        metrics.DEAD_LETTERS.labels(exc.reason).inc()
        dead_letter(self.producer, self.dead_letters, msg, exc.reason, exc.detail, service=self.service,
                    on_delivery=self.checkpoint.deliveries)

    def step(self, store: AlertStore) -> int:
        msgs = self.consumer.consume(num_messages=self.cfg.batch_max, timeout=self.cfg.poll_timeout_s)
        self.last_poll = time.monotonic()
        if not msgs:
            return 0
        alerts: list[Alert] = []
        checkpoint = self.checkpoint
        for msg in records(msgs, checkpoint):
            try:
                alerts.extend(decode_items(Alert, msg.value()))
            except InvalidRecord as exc:
                self._dead_letter(msg, exc)
        result = store.insert(alerts, self.book.current(), self.cfg.lease_s)
        for rule, delivery in result.new:
            metrics.RECEIVED.labels(rule, delivery).inc()
        self._submit(result.deliver)
        commit(checkpoint)  # recorded and dead letters acknowledged, then the offsets
        return len(msgs)

    def run(self, stop: threading.Event) -> None:
        self.sender = AsyncSender(self.cfg.workers)
        store = AlertStore(self.dsn)
        for attempt in range(60):
            try:
                released = store.release_all()
                log.info("alerts.notifier_started", released=released)
                break
            except Exception as exc:
                log.error("alerts.database_unavailable", reason=str(exc)[:300], attempt=attempt)
                store.reset()
                if stop.wait(1.0):
                    return
        inner = threading.Event()
        for target, name in ((self._record_loop, "alerts-record"), (self._retry_loop, "alerts-retry")):
            t = threading.Thread(target=target, args=(inner,), name=name, daemon=True)
            t.start()
            self._threads.append(t)

        def stopped() -> None:
            inner.set()
            assert self.sender is not None
            self.sender.close()  # attempts in flight stay pending (leased), retried by the next notifier
            for t in self._threads:
                t.join(timeout=30)
            store.close()

        def failed(exc: Exception) -> None:
            metrics.batch_failed("notifier", exc)
            store.reset()

        loop = ConsumeLoop(self.consumer, self.producer, [self.topic], lambda: self.step(store), "alerts.batch_failed",
                           checkpoint=self.checkpoint, on_failure=failed, on_stop=stopped, liveness=self)
        loop.run(stop)
