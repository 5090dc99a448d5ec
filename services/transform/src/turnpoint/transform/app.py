"""The Faust application: agents over the input topics, state in changelogged tables.

Each agent takes events in batches (`take_events`) and hands them to a Faust-free processor. Table
writes go straight to the table's store plus one changelog record per key per batch (Faust's own
`table[key] = v` needs a current event, which batching does not have, and would write the changelog
once per event). Offsets are committed by Faust after the producer is flushed: at-least-once; the
processors are idempotent under redelivery, so a replay after a crash yields identical results.
"""

from __future__ import annotations

import os
import time
from typing import Any

import faust
from faust.types import TP, EventT

from turnpoint.core import topics
from turnpoint.core.observability import get_logger
from turnpoint.transform import metrics
from turnpoint.transform.bars import BarsProcessor
from turnpoint.transform.continuity import OffsetGuard
from turnpoint.transform.processing import InMessage, Outbox, TopicNames
from turnpoint.transform.publisher import Publisher
from turnpoint.transform.readings import CountsProcessor, ReadingsProcessor
from turnpoint.transform.settings import TransformSettings

# Closes every changelog flush in a record batch of its own (see TableStore.flush_changelog).
SENTINEL_KEY = b"\x00turnpoint:end"


class TableStore:
    """StateStore over a Faust table with bytes keys/values and an explicit changelog partition.

    Changelog records are held back until `write_changelog`, which the agent calls only after the
    batch's output records were acknowledged by the broker. A crash in between then means outputs
    without state (the replay recomputes and re-sends them: duplicates of absolute values), never
    state without outputs (the replay would find nothing new and the outputs would be lost).
    """

    def __init__(self, table: Any) -> None:
        self.table = table
        self.pending: dict[bytes, tuple[int, bytes]] = {}

    def get(self, key: str) -> bytes | None:
        value = self.table.data.get(key.encode())
        return bytes(value) if value is not None else None

    def put(self, key: str, value: bytes, partition: int) -> None:
        k = key.encode()
        self.table.data[k] = value
        self.pending[k] = (partition, value)

    async def write_changelog(self, publisher: Publisher) -> None:
        """Write the batch's changelog records, then one single-record batch per partition touched.

        Tansu (memory storage) reports a partition's high watermark as the base offset of its last record
        batch plus one, ignoring the batch's other records; Faust's recovery reads a changelog only up to
        that watermark. Ending every flush with a batch of exactly one record keeps the reported
        watermark true, so a restarted worker recovers all of its state. Harmless on Apache Kafka.
        """
        if not self.pending:
            return
        topic = self.table.changelog_topic.get_topic_name()
        partitions = sorted({p for p, _ in self.pending.values()})
        for k, (p, v) in self.pending.items():
            publisher.produce(topic, k, v, p)
        self.pending.clear()
        await publisher.flush()
        for p in partitions:
            publisher.produce(topic, SENTINEL_KEY, b"", p)
        await publisher.flush()


log = get_logger(__name__)


def _messages(events: list[EventT]) -> list[InMessage]:
    return [
        InMessage(e.message.topic, e.message.partition, e.message.offset, e.message.key, e.message.value)
        for e in events
    ]


def build_app(settings: TransformSettings) -> faust.App:
    """The composition root of the transform worker."""
    opts = settings.transform
    kafka = settings.kafka
    names = TopicNames(kafka.topic_prefix)
    group = f"{kafka.topic_prefix}{topics.TRANSFORM_GROUP.group_id}"
    app = faust.App(
        group,
        broker=f"kafka://{kafka.bootstrap_servers}",
        store="memory://",
        datadir=str(opts.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        topic_allow_declare=True,
        broker_session_timeout=kafka.session_timeout_ms / 1000,
        broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
        broker_rebalance_timeout=max(kafka.session_timeout_ms / 1000, 10.0),
        broker_commit_interval=1.0,
        broker_client_id=f"{kafka.client_id}-transform",
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        stream_wait_empty=False,
        web_enabled=True,
        web_bind=settings.host,
        web_port=opts.port,
        web_host=settings.host,
        consumer_max_fetch_size=8 << 20,  # per partition: ~750 bar messages of 100 bars per fetch, not ~90
        producer_linger_ms=5,
        producer_max_batch_size=1 << 20,
        producer_max_request_size=8 << 20,
        table_cleanup_interval=3600.0,
    )

    def topic(name: str) -> Any:
        return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=kafka.partitions)

    bars_in = topic(names.bars)
    readings_in = topic(names.readings)
    counts_in = topic(names.counts)
    # Results go out lz4-compressed (JSON shrinks ~5x; the loader and model read them with librdkafka).
    # Changelogs stay uncompressed: Faust's own consumer reads them back at recovery.
    publisher = Publisher(kafka, f"{kafka.client_id}-transform", compression="lz4")
    changelog = Publisher(kafka, f"{kafka.client_id}-transform-changelog")
    inputs = {names.bars, names.readings, names.counts}

    # bytes keys and values: Faust then uses the raw codec for the changelog (send and recovery alike)
    symbol_state = app.Table("symbol-state", key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    series_state = app.Table("series-state", key_type=bytes, value_type=bytes, partitions=kafka.partitions)
    bars = BarsProcessor(opts, names)
    readings = ReadingsProcessor(opts, names, settings.tz)
    counts = CountsProcessor(names)
    within = opts.batch_within_ms / 1000

    async def publish(out: Outbox) -> None:
        """Send every output record and wait until the broker acknowledged all of them."""
        for name, records in out.records.items():
            # topics this worker consumes itself (counts become readings) stay uncompressed: Faust's
            # aiokafka consumer has no lz4 codec installed
            target = changelog if name in inputs else publisher
            for key, value in records:
                target.produce(name, key, value)
            metrics.RECORDS_OUT.labels(name).inc(len(records))
        await publisher.flush()
        await changelog.flush()
        for reason, n in out.dead.items():
            metrics.DEAD_LETTERS.labels(reason).inc(n)

    guards: dict[str, OffsetGuard] = {}  # by input topic

    @app.on_partitions_revoked.connect
    async def forget_offsets(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for guard in guards.values():
            guard.forget()

    async def resume_at(guard: OffsetGuard, partitions: set[tuple[str, int]]) -> None:
        """Start tracking newly seen partitions at their committed offset (or the log start)."""
        consumer = app.consumer
        for topic, partition in guard.unknown(partitions):
            tp = TP(topic, partition)
            earliest = (await consumer.earliest_offsets(tp)).get(tp, 0)
            # Faust's own record of the committed offset (None when nothing, or 0, was committed)
            committed = getattr(consumer, "_committed_offset", {}).get(tp)
            guard.start((topic, partition), max(committed or 0, earliest))

    async def seek_back(topic: str, partition: int, offset: int, why: str) -> None:
        log.warning("input messages went missing inside the consumer; seeking back to reprocess them",
                    topic=topic, partition=partition, offset=offset, why=why)
        metrics.SEEKS_BACK.labels(topic, why).inc()
        try:
            await app.consumer.seek(TP(topic, partition), offset)
        except Exception:
            # revoked meanwhile: its next owner resumes from the committed offset, which is below the hole
            log.warning("seek back failed", topic=topic, partition=partition, exc_info=True)

    async def admit(guard: OffsetGuard, msgs: list[InMessage]) -> list[InMessage]:
        """The batch without what follows a hole in a partition's offsets; seek back to the hole."""
        await resume_at(guard, {(m.topic, m.partition) for m in msgs})
        admitted, holes = guard.admit(msgs)
        for (topic, partition), offset in holes.items():
            await seek_back(topic, partition, offset, "hole")
        return admitted

    @app.timer(max(opts.stall_seconds / 2, 0.5))
    async def watchdog() -> None:
        """Seek back partitions whose consumer fetched messages an idle agent never received."""
        consumer = app.consumer
        if app.rebalancing:
            return
        for tp in consumer.assignment():
            guard = guards.get(tp.topic)
            if guard is None:
                continue
            await resume_at(guard, {(tp.topic, tp.partition)})
            offset = guard.stalled((tp.topic, tp.partition), await consumer.position(tp), opts.stall_seconds)
            if offset is not None:
                await seek_back(tp.topic, tp.partition, offset, "stall")

    async def run(stream: Any, agent: str, source: str, handle: Any, store: TableStore | None) -> None:
        guard = guards[source] = OffsetGuard()
        async for events in stream.take_events(opts.batch_max, within=within):
            guard.begin()
            t0 = time.perf_counter()
            msgs = await admit(guard, _messages(events))
            if not msgs:
                guard.end()
                continue
            metrics.EVENTS_IN.labels(source).inc(len(msgs))
            out = handle(msgs)
            metrics.PROCESS_SECONDS.labels(agent).observe(time.perf_counter() - t0)
            try:
                await publish(out)
                if store is not None:
                    await store.write_changelog(changelog)
            except Exception:
                # The broker refused our output after the producer's own retries. The in-memory state
                # is now ahead of what was published: exit so the supervisor restarts us from the
                # changelog and the last committed offsets (at-least-once, nothing lost).
                log.exception("publishing a batch failed; exiting for a clean restart", agent=agent)
                os._exit(70)
            metrics.BATCH_SECONDS.labels(agent).observe(time.perf_counter() - t0)
            guard.end()

    @app.agent(bars_in, name="bars")
    async def bars_agent(stream: Any) -> None:
        store = TableStore(symbol_state)
        await run(stream, "bars", names.bars, lambda msgs: bars.process(msgs, store), store)

    @app.agent(readings_in, name="readings")
    async def readings_agent(stream: Any) -> None:
        store = TableStore(series_state)
        await run(stream, "readings", names.readings, lambda msgs: readings.process(msgs, store), store)

    @app.agent(counts_in, name="counts")
    async def counts_agent(stream: Any) -> None:
        await run(stream, "counts", names.counts, counts.process, None)

    @app.timer(5.0)
    async def consumer_lag() -> None:
        """Messages between each input partition's high watermark and the worker's position."""
        consumer = app.consumer
        lag: dict[str, int] = dict.fromkeys(inputs, 0)
        for tp in consumer.assignment():
            if tp.topic in inputs:
                position = await consumer.position(tp)
                if position is not None:
                    lag[tp.topic] += max(0, consumer.highwater(tp) - position)
        for name, value in lag.items():
            metrics.CONSUMER_LAG.labels(name).set(value)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        ok = not app.consumer.should_stop if app.consumer else False
        body = {"status": "ok" if ok else "starting", "service": "transform", "group": group}
        return web.json(body, status=200 if ok else 503)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app
