"""Offsets read from the real broker: partition ends behind Tansu's short high watermark, group lag."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from turnpoint.core import topics
from turnpoint.core.kafka import end_offsets, group_lag

PER_PARTITION = 8_000  # two last batches of 8,000 records: more than one consume(10_000) takes at once


def _fill_in_one_batch_each(settings: Any, topic: str) -> None:
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 2000,
                         "batch.num.messages": 100_000, "batch.size": 16 << 20})
    for partition in (0, 1):
        for i in range(PER_PARTITION):
            producer.produce(topic, key=b"s", value=b"%d" % i, partition=partition)
    assert producer.flush(30) == 0


def test_ends_are_true_when_the_last_batches_together_exceed_one_read(kafka_settings: Any, unique: str) -> None:
    topic = topics.READINGS.full_name(kafka_settings.topic_prefix)
    _fill_in_one_batch_each(kafka_settings, topic)
    consumer = Consumer({"bootstrap.servers": kafka_settings.bootstrap_servers, "group.id": f"probe-{unique}",
                         "enable.auto.commit": False})
    try:
        partitions = [TopicPartition(topic, 0), TopicPartition(topic, 1)]
        assert end_offsets(consumer, partitions) == {(topic, 0): PER_PARTITION, (topic, 1): PER_PARTITION}
    finally:
        consumer.close()
    assert group_lag(kafka_settings, f"g-{unique}", [topic]) == 2 * PER_PARTITION


def test_commits_are_checked_per_partition_and_read_back_through_the_group(kafka_settings: Any, unique: str) -> None:
    from turnpoint.core.kafka import commit_checked, committed_offsets, make_consumer

    topic = topics.READINGS.full_name(kafka_settings.topic_prefix)
    consumer = make_consumer(kafka_settings, f"g-{unique}")
    reader = make_consumer(kafka_settings, f"g-{unique}")  # another client of the group, never subscribed
    try:
        assert committed_offsets(reader, [(topic, 0), (topic, 1)]) == {(topic, 0): None, (topic, 1): None}
        assert commit_checked(consumer, [TopicPartition(topic, 0, 7)], "test") == []
        assert committed_offsets(reader, [(topic, 0), (topic, 1)]) == {(topic, 0): 7, (topic, 1): None}
        missing = f"{kafka_settings.topic_prefix}no-such-topic"
        failed = commit_checked(consumer, [TopicPartition(topic, 1, 3), TopicPartition(missing, 0, 5)], "test")
        assert (missing, 0, 5) in {(f.topic, f.partition, f.offset) for f in failed}
        assert all("Unknown topic or partition" in f.error for f in failed if f.topic == missing)
    finally:
        consumer.close()
        reader.close()
