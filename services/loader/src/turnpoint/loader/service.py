"""The consume → write → commit loop.

One iteration collects messages until `batch_size` rows, or until the writer is free and the consumer has
caught up (`timing.FlushTiming`; at most `flush_interval_ms` after the batch's first message); a batch holds
at most `batch_size` rows plus one message's items (messages consumed past the bound start the next batch).
It writes them in one database transaction, sends what was rejected to the dead-letter topic, and only then commits the
Kafka offsets. A database outage pauses consumption and retries the same flush with backoff, for as long
as it takes; on SIGTERM the loop stops without committing what was not written (it is redelivered).

Pipelined, one batch deep: the database write of a batch runs on a writer thread while this thread
consumes and decodes the next one (psycopg releases the GIL while PostgreSQL works). Batches are written
and committed strictly in order: batch N+1 is handed to the writer only after batch N's transaction
committed and its offsets were committed, so offsets never run ahead of the rows. A write that fails with
the database unavailable is retried here, together with the messages collected since (in their order).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from turnpoint.core.checkpoint import Checkpoint, CommitFailed
from turnpoint.core.deadletter import DeadLetters
from turnpoint.core.lateness import Horizons
from turnpoint.core.observability import get_logger
from turnpoint.core.skew import FutureSkew
from turnpoint.loader import metrics
from turnpoint.loader.batch import Batch, Message, Rejected
from turnpoint.loader.errors import DatabaseUnavailable
from turnpoint.loader.sink import Sink, isolate
from turnpoint.loader.tables import Row, TableSpec
from turnpoint.loader.timing import FlushTiming

log = get_logger(__name__)

SERVICE = "loader"
_MAX_CONSUME = 10_000

Written = tuple[dict[str, int], list[Rejected]]


def _iso_instant(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True)
class _InFlight:
    """A batch the writer thread is writing."""

    batch: Batch
    future: Future[Written]
    started: float


class Loader:
    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        sink: Sink,
        tables: Sequence[TableSpec],
        topic_prefix: str,
        dead_letter_topic: str,
        batch_size: int,
        flush_interval_s: float,
        retry_initial_s: float,
        retry_max_s: float,
        flush_linger_s: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        skew: FutureSkew | None = None,
        lateness_days: float | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._sink = sink
        self._prefix = topic_prefix
        self._tables_by_topic = {t.topic.name: t for t in tables}
        self._topics = [topic_prefix + t.topic.name for t in tables]
        self._dlq = dead_letter_topic
        self._skew = skew  # SPEC 2's clock rule on readings and prices (None: none)
        self._lateness_days = lateness_days  # SPEC 2's allowed lateness of readings (None: none)
        self._dead = DeadLetters(producer, SERVICE)
        self._batch_size = batch_size
        self._timing = FlushTiming(flush_interval_s, flush_linger_s)
        self._clock = clock
        self._retry_initial = retry_initial_s
        self._retry_max = retry_max_s
        self._batch = Batch(self._tables_by_topic, self._skew)
        # consumed after the batch was full: the next batch starts with them (a batch holds at most
        # `batch_size` rows plus one message's items, however many items the messages carry)
        self._held: collections.deque[Any] = collections.deque()
        self._inflight: _InFlight | None = None
        self._retry_error: DatabaseUnavailable | None = None  # set while self._batch must be retried
        self._writer: ThreadPoolExecutor | None = None
        self._paused = False
        self.state = "starting"
        self.last_flush: float | None = None
        self.last_error: str | None = None
        self.flushes = 0
        self.rows_written = 0
        self.first_message_at: float | None = None  # time.monotonic() of the first message consumed
        self.last_commit_at: float | None = None  # time.monotonic() of the last offset commit

    # -- public ---------------------------------------------------------------------------------
    @property
    def topics(self) -> list[str]:
        return list(self._topics)

    def health(self) -> tuple[bool, dict[str, Any]]:
        ok = self.state in ("running", "starting")
        return ok, {
            "state": self.state,
            # an ISO-8601 UTC instant like every other time turnpoint shows (null before the first flush)
            "last_flush": _iso_instant(self.last_flush),
            "flushes": self.flushes,
            "last_error": self.last_error,
        }

    def run(self, stop: threading.Event) -> None:
        """Consume until `stop` is set; the consumer, producer and sink are closed on the way out."""
        self._consumer.subscribe(self._topics, on_assign=self._on_assign, on_revoke=self._on_revoke,
                                 on_lost=self._on_revoke)
        self.state = "running"
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loader-writer")
        log.info("loader started", topics=self._topics)
        try:
            while not stop.is_set():
                self._collect(stop)
                if self._batch.messages:
                    self._flush(stop)
        finally:
            self.state = "stopped"
            try:
                self._settle_on_stop()
            finally:
                self._writer.shutdown(wait=True)
                self._batch = Batch(self._tables_by_topic, self._skew)
                try:
                    self._consumer.close()
                finally:
                    self._producer.flush(10)
                    self._sink.close()
            log.info("loader stopped")

    # -- rebalances -----------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("partitions assigned", partitions=[f"{p.topic}[{p.partition}]" for p in partitions])
        if self._paused and partitions:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Forget the uncommitted messages of revoked partitions: their next owner reads them again."""
        revoked = {(p.topic, p.partition) for p in partitions}
        log.info("partitions revoked", partitions=[f"{t}[{p}]" for t, p in sorted(revoked)])
        if self._inflight is not None and revoked & set(self._inflight.batch.positions):
            # finish the write while the partitions are still ours: commit it, or take it back for a retry
            self._settle_inflight()
        if revoked & set(self._batch.positions):
            self._batch = self._batch.drop_partitions(revoked, self._base_topic)
        if self._held:
            self._held = collections.deque(m for m in self._held if (m.topic(), m.partition()) not in revoked)

    def _base_topic(self, full: str) -> str:
        return full[len(self._prefix):] if self._prefix and full.startswith(self._prefix) else full

    # -- collect --------------------------------------------------------------------------------
    def _collect(self, stop: threading.Event) -> None:
        """Collect until the batch is full or `FlushTiming` says it goes to the writer now."""
        first_at: float | None = None
        caught_up = False
        held = self._held
        while held and len(self._batch) < self._batch_size:
            self._accept(held.popleft())
        while not stop.is_set() and len(self._batch) < self._batch_size:
            if self._inflight is not None and self._inflight.future.done():
                self._settle_inflight()  # commit its offsets now, not when the next batch is full
                if self._retrying:
                    return
            now = self._clock()
            if first_at is None and self._batch.messages:
                first_at = now
            busy = self._inflight is not None
            if self._timing.due(now=now, first_at=first_at, writer_busy=busy, caught_up=caught_up):
                return
            timeout = self._timing.timeout(now=now, first_at=first_at, writer_busy=busy)
            # ask for about as many messages as fit in the batch, given the items per message so far; for
            # the first, ask for one: `consume` returns only once it has all it asked for or timed out, so
            # asking for more would hold the first message back for the whole timeout
            per_message = max(1, len(self._batch) // max(1, len(self._batch.messages)))
            want = 1 if first_at is None else max(
                1, min(_MAX_CONSUME, (self._batch_size - len(self._batch)) // per_message + 1,
                       self._batch_size // 100 + 1))
            msgs = self._consumer.consume(num_messages=want, timeout=timeout)
            caught_up = len(msgs) < want  # nothing more was queued locally
            for msg in msgs:
                if held or len(self._batch) >= self._batch_size:
                    held.append(msg)  # the batch is full: this message starts the next one
                else:
                    self._accept(msg)

    def _accept(self, msg: Any) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer error", error=str(err), topic=msg.topic(), partition=msg.partition())
            return
        topic = msg.topic() or ""
        if self.first_message_at is None:
            self.first_message_at = time.monotonic()
        metrics.MESSAGES.labels(topic=self._base_topic(topic)).inc()
        self._batch.add(msg, self._base_topic(topic))

    # -- flush ----------------------------------------------------------------------------------
    def _flush(self, stop: threading.Event) -> None:
        """Hand the collected batch to the writer once the previous one is written and committed."""
        if self._inflight is not None:
            self._inflight.future.exception()  # wait (the outcome is handled by _settle_inflight)
            self._settle_inflight()
        if self._retrying:
            if not self._retry(stop):
                return
            if not self._batch.messages:
                return
        assert self._writer is not None
        batch, self._batch = self._batch, Batch(self._tables_by_topic, self._skew)
        self._inflight = _InFlight(batch, self._writer.submit(self._write, batch), time.perf_counter())

    @property
    def _retrying(self) -> bool:
        return self._retry_error is not None

    def _settle_inflight(self) -> None:
        """Take the finished (or finishing) write's outcome: commit it, or queue it for a retry."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return
        try:
            written, rejected = inflight.future.result()
        except DatabaseUnavailable as exc:
            # its messages go before those collected since, so the last item per key still wins
            self._batch = inflight.batch.followed_by(self._batch, self._base_topic)
            self._retry_error = exc
            return
        self._done(inflight.batch, written, rejected, time.perf_counter() - inflight.started, attempts=0)

    def _retry(self, stop: threading.Event) -> bool:
        """Write `self._batch` on this thread with backoff until it succeeds; False if asked to stop first."""
        delay = self._retry_initial
        attempt = 0
        while True:
            exc = self._retry_error
            attempt += 1
            self._sink.reset()
            metrics.RETRIES.inc()
            self.state = "retrying"
            self.last_error = str(exc)
            log.warning(
                "database unavailable; keeping position and retrying",
                error=str(exc), attempt=attempt, retry_in_s=round(delay, 3), rows=len(self._batch),
            )
            self._pause()
            if not self._wait(stop, delay):
                log.warning("stopping during a retry; the uncommitted batch will be redelivered",
                            rows=len(self._batch))
                return False
            delay = min(delay * 2, self._retry_max)
            batch = self._batch
            started = time.perf_counter()
            try:
                written, rejected = self._write(batch)
            except DatabaseUnavailable as again:
                self._retry_error = again
                continue
            break
        self._retry_error = None
        self._resume()
        self._batch = Batch(self._tables_by_topic, self._skew)
        self._done(batch, written, rejected, time.perf_counter() - started, attempts=attempt)
        return True

    def _settle_on_stop(self) -> None:
        """On the way out: wait for the write in flight and commit it if it succeeded (else it is redelivered)."""
        inflight, self._inflight = self._inflight, None
        if inflight is None:
            return
        try:
            written, rejected = inflight.future.result()
        except DatabaseUnavailable as exc:
            log.warning("stopping after a failed write; the uncommitted batch will be redelivered",
                        rows=len(inflight.batch), error=str(exc))
            return
        self._done(inflight.batch, written, rejected, time.perf_counter() - inflight.started, attempts=0)

    def _done(self, batch: Batch, written: dict[str, int], rejected: list[Rejected], elapsed: float,
              attempts: int) -> None:
        """After the database commit: dead letters, then the offsets, then the bookkeeping."""
        self._dead_letter([*batch.rejected, *rejected])
        self._commit(batch)  # the dead letters are durable before the offsets that skip them are committed
        self.last_commit_at = time.monotonic()
        total = sum(written.values())
        self.rows_written += total
        metrics.BATCH_SECONDS.observe(elapsed)
        metrics.BATCH_ROWS.observe(total)
        metrics.LAST_FLUSH.set(time.time())
        self.state = "running"
        self.last_flush = time.time()
        self.flushes += 1
        if attempts:
            log.info("database back; batch written", rows=total, attempts=attempts + 1)
        self._update_lag(batch)

    def _write(self, batch: Batch) -> Written:
        """Write a batch in one transaction; return rows written per table and the rows rejected."""
        sink = self._sink
        sink.begin()
        written: dict[str, int] = {}
        rejected: list[Rejected] = []
        counts: list[tuple[str, str, int]] = []
        for name, whole in batch.tables.items():
            spec = whole.spec
            tb = whole
            if whole.arrivals is not None and self._lateness_days is not None:
                # SPEC 2's allowed lateness, judged as the transform does (it dead-letters what is late), so
                # that the table a rebuild re-publishes holds exactly the readings the statistics counted
                newest = sink.newest(spec, whole.series())
                tb, late = whole.within(Horizons(self._lateness_days, newest))
                if late:
                    counts.append((name, "late", late))
            keys, key_origins = tb.deletions()
            bad = isolate(len(keys), _slices(sink.delete, spec, keys))
            rejected += [self._rejected_row(batch, key_origins[i], e.sqlstate, e.detail) for i, e in bad]
            rows, origins = tb.upserts()
            bad_rows = isolate(len(rows), _slices(sink.upsert, spec, rows))
            rejected += [self._rejected_row(batch, origins[i], e.sqlstate, e.detail) for i, e in bad_rows]
            if spec.derived:
                self._write_derived(spec, _without(rows, bad_rows))
            n = len(rows) - len(bad_rows) + len(keys) - len(bad)
            if n:
                written[name] = n
            counts += [(name, "upsert", len(rows) - len(bad_rows)), (name, "delete", len(keys) - len(bad))]
        sink.record_jobs(written)
        sink.commit()
        for name, op, n in counts:
            if n and op == "late":
                metrics.LATE.inc(n)
            elif n:
                metrics.ROWS.labels(table=name, op=op).inc(n)
        return written, rejected

    def _write_derived(self, spec: TableSpec, written: list[Row]) -> None:
        """Tables kept from `spec`'s rows (latest_bar from price), in the same transaction as those rows."""
        for target, derive in spec.derived:
            rows = derive(written)
            for i, e in isolate(len(rows), _slices(self._sink.upsert, target, rows)):
                # the source row was written; only the derived row is missing (it cannot violate anything today)
                log.error("derived row rejected by the database", table=target.name, row=repr(rows[i]),
                          sqlstate=e.sqlstate, detail=e.detail)

    def _rejected_row(self, batch: Batch, origin: tuple[int, int], sqlstate: str | None, detail: str) -> Rejected:
        msg = batch.messages[origin[0]]
        log.warning(
            "row rejected by the database", sqlstate=sqlstate, detail=detail, topic=msg.topic(),
            partition=msg.partition(), offset=msg.offset(), item=origin[1],
        )
        reason = "constraint-violation" if (sqlstate or "").startswith("23") else "rejected-by-database"
        return Rejected(reason, f"item {origin[1]}: [{sqlstate}] {detail}", msg, batch.item_payload(origin))

    def _dead_letter(self, rejected: list[Rejected]) -> None:
        for r in rejected:
            m: Message = r.message
            self._dead.send(
                self._dlq, reason=r.reason, detail=r.detail, payload=r.payload,
                source_topic=m.topic(), partition=m.partition(), offset=m.offset(), key=m.key(),
            )
            metrics.DEAD_LETTERS.labels(reason=r.reason).inc()
            if r.reason not in ("constraint-violation", "rejected-by-database"):
                log.warning("record dead-lettered", reason=r.reason, detail=r.detail, topic=m.topic(),
                            partition=m.partition(), offset=m.offset())

    def _commit(self, batch: Batch) -> None:
        """Dead letters acknowledged (failed ones produced again), then the batch's offsets committed."""
        checkpoint = Checkpoint(self._consumer, self._producer, service=SERVICE)
        for (t, p), o in batch.positions.items():
            checkpoint.track(t, p, o)
        with contextlib.suppress(CommitFailed):
            # logged per partition: after a rebalance the next owner re-reads from the last commit
            # (duplicates, not losses)
            checkpoint.commit([("dead letters", self._dead.flush)])

    # -- back-pressure --------------------------------------------------------------------------
    def _pause(self) -> None:
        if not self._paused:
            self._paused = True
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.pause(assignment)

    def _resume(self) -> None:
        if self._paused:
            self._paused = False
            assignment = self._consumer.assignment()
            if assignment:
                self._consumer.resume(assignment)

    def _wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait while serving the consumer (heartbeats, rebalances); False if asked to stop."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            for msg in self._consumer.consume(num_messages=_MAX_CONSUME, timeout=min(left, 0.2)):
                self._accept(msg)  # a partition assigned while paused: its messages join the batch
        return False

    def _update_lag(self, batch: Batch) -> None:
        for (topic, partition), offset in batch.positions.items():
            try:
                _low, high = self._consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
            except KafkaException:
                continue
            if high is not None and high >= 0:
                metrics.LAG.labels(topic=topic, partition=str(partition)).set(max(0, high - offset - 1))


def _slices(write: Callable[[TableSpec, Any], None], spec: TableSpec, items: Sequence[Any]) -> Callable[[int, int], None]:
    """`isolate`'s attempt: write items[lo:hi] of `spec`."""
    return lambda lo, hi: write(spec, items[lo:hi])


def _without(rows: list[Row], rejected: list[tuple[int, Any]]) -> list[Row]:
    if not rejected:
        return rows
    bad = {i for i, _e in rejected}
    return [r for i, r in enumerate(rows) if i not in bad]
