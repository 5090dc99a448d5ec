"""Kafka client helpers (confluent-kafka): topic creation, producer/consumer settings, lag.

Topics are always created explicitly with their partition counts: auto-created topics would get the
broker's default partition count, and Tansu does not report topic configs back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from turnpoint.core import topics
from turnpoint.core.deadletter import dead_letter_record
from turnpoint.core.kafkalog import client_logger
from turnpoint.core.observability import get_logger
from turnpoint.core.settings import KafkaSettings


def admin(settings: KafkaSettings) -> AdminClient:
    conf: dict[str, Any] = {**settings.client_config(), "logger": client_logger()}
    return AdminClient(conf)


def all_topic_names(settings: KafkaSettings) -> list[str]:
    names = [t.full_name(settings.topic_prefix) for t in topics.ALL]
    names += [f"{settings.topic_prefix}{n}" for n in topics.dead_letter_topics()]
    return names


def ensure_topics(settings: KafkaSettings, names: Iterable[str] | None = None, timeout: float = 30.0) -> list[str]:
    """Create the catalogue's topics (or the given ones) that do not exist yet; return those created."""
    client = admin(settings)
    wanted = list(names) if names is not None else all_topic_names(settings)
    existing = set(client.list_topics(timeout=timeout).topics)
    compacted = {t.full_name(settings.topic_prefix) for t in topics.ALL if t.compacted}
    new = [
        NewTopic(
            n,
            num_partitions=settings.partitions,
            replication_factor=settings.replication_factor,
            config={"cleanup.policy": "compact"} if n in compacted else {},
        )
        for n in wanted
        if n not in existing
    ]
    created: list[str] = []
    if not new:
        return created
    for name, fut in client.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result()
            created.append(name)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    conf = {
        **settings.client_config(),
        "logger": client_logger(),
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "queue.buffering.max.messages": 200000,
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: KafkaSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    conf = {
        **settings.client_config(),
        "logger": client_logger(),
        "group.id": group_id,
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": settings.heartbeat_interval_ms,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "partition.assignment.strategy": "cooperative-sticky",
    }
    conf.update(overrides)
    return conf


def make_producer(settings: KafkaSettings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: KafkaSettings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(settings, group_id, **overrides))


def dead_letter_value(**fields: Any) -> bytes:
    """The value of a dead letter; kept for callers not yet moved to `turnpoint.core.deadletter`
    (`dead_letter_record`, which also gives the headers, or `DeadLetters`)."""
    return dead_letter_record(**fields).value


_PROBE_BATCH = 10_000


def end_offsets(consumer: Consumer, partitions: list[TopicPartition], timeout: float = 10.0) -> dict[tuple[str, int], int]:
    """The true end offset (offset of the last record + 1) of each partition.

    Tansu (memory storage) answers ListOffsets with the base offset of the partition's last record batch
    plus one, whatever the number of records in that batch, so the reported high watermark can be short.
    We read the last batch from there and take the offset after its last record. On Apache Kafka the
    reported watermark is already right and the read finds nothing more.

    The read is over once every partition delivered its first record from there and a `consume` call
    came back short of its limit: librdkafka queues a fetched record batch whole, so by then the rest of
    every partition's last batch was read too, however many records the batches hold together.
    """
    ends: dict[tuple[str, int], int] = {}
    probe: list[TopicPartition] = []
    for tp in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=timeout)
        ends[(tp.topic, tp.partition)] = high
        if high > low:
            probe.append(TopicPartition(tp.topic, tp.partition, high - 1))
    if not probe:
        return ends
    consumer.assign(probe)
    try:
        unseen = {(tp.topic, tp.partition) for tp in probe}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = consumer.consume(_PROBE_BATCH, 0.2)
            for msg in msgs:
                topic, partition, offset = msg.topic(), msg.partition(), msg.offset()
                if msg.error() is None and topic is not None and partition is not None and offset is not None:
                    ends[(topic, partition)] = max(ends[(topic, partition)], offset + 1)
                    unseen.discard((topic, partition))
            if not unseen and len(msgs) < _PROBE_BATCH:
                break
    finally:
        consumer.unassign()
    return ends


def committed_offsets(
    consumer: Consumer, partitions: Iterable[tuple[str, int]], timeout: float = 10.0,
) -> dict[tuple[str, int], int | None]:
    """The offsets the consumer's group has committed (None where it never committed), asked of the broker.

    Works for any consumer configured with the group's `group.id`, subscribed or not: it does not join
    the group. A per-partition error raises KafkaException naming the partition.
    """
    tps = [TopicPartition(t, p) for t, p in partitions]
    if not tps:
        return {}
    out: dict[tuple[str, int], int | None] = {}
    for tp in consumer.committed(tps, timeout=timeout):
        if tp.error is not None:
            msg = f"committed offset of {tp.topic}[{tp.partition}]: {tp.error}"
            raise KafkaException(msg)
        out[(tp.topic, tp.partition)] = tp.offset if tp.offset >= 0 else None
    return out


@dataclass(frozen=True)
class CommitFailure:
    """One partition whose offset commit the broker (or the client) refused."""

    topic: str
    partition: int
    offset: int
    error: str


def commit_checked(consumer: Consumer, offsets: list[TopicPartition], service: str) -> list[CommitFailure]:
    """Commit `offsets` synchronously and log every partition whose commit failed, by name.

    Returns the failures; an empty list means every partition was committed. librdkafka either raises
    for the whole request or marks single partitions: both are reported per partition. A failed commit
    loses nothing (the partition's next owner re-reads from the last commit), but it is never silent.
    """
    if not offsets:
        return []
    try:
        result = consumer.commit(offsets=offsets, asynchronous=False)
    except KafkaException as exc:
        failed = [CommitFailure(tp.topic, tp.partition, tp.offset, str(exc)) for tp in offsets]
    else:
        failed = [CommitFailure(tp.topic, tp.partition, tp.offset, str(tp.error))
                  for tp in (result or []) if tp.error is not None]
    log = get_logger("turnpoint.core.kafka")
    for f in failed:
        log.warning("offset commit failed; those messages will be redelivered", service=service,
                    topic=f.topic, partition=f.partition, offset=f.offset, error=f.error)
    return failed


def group_lag(settings: KafkaSettings, group_id: str, topic_names: Iterable[str], timeout: float = 10.0) -> int:
    """Messages not yet committed by a consumer group over the given topics (committed offsets vs. ends)."""
    consumer = Consumer({**settings.client_config(), "logger": client_logger(), "group.id": group_id,
                         "enable.auto.commit": False,
                         "enable.partition.eof": False})
    try:
        md = consumer.list_topics(timeout=timeout)
        tps = [
            TopicPartition(t, p)
            for t in topic_names
            if t in md.topics
            for p in md.topics[t].partitions
        ]
        if not tps:
            return 0
        committed = consumer.committed(tps, timeout=timeout)
        ends = end_offsets(consumer, tps, timeout)
        lag = 0
        for tp in committed:
            pos = tp.offset if tp.offset >= 0 else 0
            lag += max(0, ends[(tp.topic, tp.partition)] - pos)
        return lag
    finally:
        consumer.close()
