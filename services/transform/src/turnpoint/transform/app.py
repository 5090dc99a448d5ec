"""The Faust application: agents over the input topics, state in changelogged tables.

Each agent takes the events waiting in its channel at once (`intake.take_ready`) and hands them to a
Faust-free processor through `agent_loop.AgentLoop` (admit, process, publish, changelog, in that order).
Table writes go through
`faust_store.TableStore`; offset continuity (resume, seek-back, watchdog, lag) is the
`continuity.Continuity` service; every Faust internal used is in `faust_internals`. Offsets are committed
by Faust after the producer is flushed: at-least-once; the processors are idempotent under redelivery,
so a replay after a crash yields identical results.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import faust
from confluent_kafka import Consumer, TopicPartition

from turnpoint.core import topics
from turnpoint.core.freshness import JobBeats
from turnpoint.core.kafka import committed_offsets, make_consumer
from turnpoint.core.observability import get_logger
from turnpoint.transform import faust_delivery, faust_internals, metrics
from turnpoint.transform.agent_loop import AgentLoop, OutputPublisher
from turnpoint.transform.bars import BarsProcessor
from turnpoint.transform.continuity import Continuity, Partition
from turnpoint.transform.faust_store import TableStore
from turnpoint.transform.intake import take_ready
from turnpoint.transform.processing import TopicNames
from turnpoint.transform.publisher import Publisher
from turnpoint.transform.readings import CountsProcessor, ReadingsProcessor
from turnpoint.transform.settings import TransformSettings
from turnpoint.web.aiohttp import problem_middleware
from turnpoint.web.health import liveness, readiness

log = get_logger(__name__)


def low_watermarks(consumer: Consumer, partitions: list[Partition], timeout: float = 10.0) -> dict[Partition, int]:
    """The first offset of each partition's log, asked of the broker (librdkafka's low watermark)."""
    out: dict[Partition, int] = {}
    for topic, partition in partitions:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout, cached=False)
        out[(topic, partition)] = low
    return out


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
        stream_buffer_maxsize=opts.stream_buffer,
        web_enabled=True,
        web_application_options={"middlewares": [problem_middleware("transform")]},  # errors as problem+json
        web_bind=settings.host,
        web_port=opts.port,
        web_host=settings.host,
        consumer_max_fetch_size=8 << 20,  # per partition: ~750 bar messages of 100 bars per fetch, not ~90
        producer_linger_ms=5,
        producer_max_batch_size=1 << 20,
        producer_max_request_size=8 << 20,
        table_cleanup_interval=3600.0,
    )
    # Faust's delivery loop without four asyncio tasks per message, and fetches held at most fetch_wait_ms
    faust_delivery.install(app, opts.fetch_wait_ms)

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
    skew = settings.future_skew()
    bars = BarsProcessor(opts, names, skew)
    readings = ReadingsProcessor(opts, names, settings.tz, skew, lateness_days=settings.lateness_days)
    counts = CountsProcessor(names, skew)

    publish = OutputPublisher(publisher, changelog, inputs)

    faust_internals.check(app, symbol_state)
    group_offsets = make_consumer(kafka, group, **{"client.id": f"{kafka.client_id}-transform-offsets"})

    async def committed(partitions: set[Partition]) -> Mapping[Partition, int | None]:
        """The group's committed offsets, from the broker (whichever worker committed them)."""
        return await asyncio.get_running_loop().run_in_executor(
            None, committed_offsets, group_offsets, partitions, 10.0)

    async def log_starts(partitions: list[Partition]) -> Mapping[Partition, int]:
        """Each partition's first offset, from the broker on the offsets client's own connection (Faust's
        consumer sends it behind its long-polling fetch: 1.5 s per newly seen partition)."""
        return await asyncio.get_running_loop().run_in_executor(None, low_watermarks, group_offsets, partitions)

    stores = {names.bars: TableStore(symbol_state), names.readings: TableStore(series_state)}

    def processed(topic: str, partition: int) -> int | None:
        store = stores.get(topic)
        return store.resume_offset(partition) if store is not None else None

    continuity = Continuity(lambda: app.consumer, committed, stall_seconds=opts.stall_seconds,
                            processed=processed, settling=lambda: faust_internals.settling(app),
                            log_starts=log_starts)

    def commit_refused(offsets: Mapping[Any, int]) -> None:
        for tp, offset in sorted(offsets.items()):
            metrics.COMMITS_REFUSED.labels(tp.topic).inc()
            log.warning("offset commit refused by the broker", topic=tp.topic, partition=tp.partition,
                        offset=offset)

    @app.task
    async def start_continuity() -> None:
        """Runs once the tables are recovered (as app timers do)."""
        faust_internals.watch_commits(app.consumer, commit_refused)
        await app.add_runtime_dependency(continuity)

    # mode's handler type wants `(sender, /, *args, signal, **kwargs)`; faust calls this one with (sender, revoked)
    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def forget_offsets(sender: Any, revoked: Any, **kwargs: Any) -> None:
        continuity.forget()

    loop = AgentLoop(continuity, publish, changelog, beats=JobBeats(), jobs_topic=names.jobs,
                     batch_max=opts.batch_max, take=take_ready, batch_max_bytes=opts.batch_max_bytes)

    @app.agent(bars_in, name="bars")
    async def bars_agent(stream: Any) -> None:
        store = stores[names.bars]
        await loop.run(stream, "bars", names.bars, lambda msgs: bars.process(msgs, store), store)

    @app.agent(readings_in, name="readings")
    async def readings_agent(stream: Any) -> None:
        store = stores[names.readings]
        await loop.run(stream, "readings", names.readings, lambda msgs: readings.process(msgs, store), store)

    @app.agent(counts_in, name="counts")
    async def counts_agent(stream: Any) -> None:
        await loop.run(stream, "counts", names.counts, counts.process, None)

    @app.timer(5.0)
    async def consumer_lag() -> None:
        """Messages between each input partition's high watermark and the worker's position."""
        lag = await continuity.lag(inputs)
        for name, value in lag.items():
            metrics.CONSUMER_LAG.labels(name).set(value)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        """Liveness: the process answers (never the broker: see /readyz)."""
        return web.json(liveness("transform", group=group))

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        """Readiness: the consumer runs against the broker."""
        ok = bool(app.consumer) and not app.consumer.should_stop
        status, body = readiness("transform", ok, {"group": group, "consumer": "running" if ok else "starting"})
        return web.json(body, status=status)

    @app.page("/metrics")
    async def prometheus(web: Any, request: Any) -> Any:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return app
