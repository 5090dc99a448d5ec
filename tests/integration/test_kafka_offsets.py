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


def test_this_tansu_does_not_delete_records(tmp_path: Any) -> None:
    """Why the embedded broker has no trimmer: DeleteRecords is unimplemented in Tansu's memory storage.

    When this fails, Tansu learnt DeleteRecords: a trimmer of what every group committed becomes possible.
    A broker of its own: the request panics a broker thread and drops the connection.
    """
    import pytest
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    from turnpoint.cli.embedded import free_port, start_broker, stop_pid

    handle = start_broker(free_port(), tmp_path / "broker.log")
    try:
        conf = {"bootstrap.servers": handle.bootstrap, "log_level": 0}
        client = AdminClient(conf)
        for fut in client.create_topics([NewTopic("trim-me", 1, 1)]).values():
            fut.result()
        producer = Producer(conf)
        for i in range(50):
            producer.produce("trim-me", value=b"%d" % i, partition=0)
        assert producer.flush(10) == 0
        with pytest.raises(KafkaException):
            for fut in client.delete_records([TopicPartition("trim-me", 0, 20)], request_timeout=10).values():
                fut.result()
        consumer = Consumer({**conf, "group.id": "trim-check", "enable.auto.commit": False})
        try:
            assert consumer.get_watermark_offsets(TopicPartition("trim-me", 0), timeout=10)[0] == 0
            consumer.assign([TopicPartition("trim-me", 0, 0)])
            first = next(m for m in iter(lambda: consumer.poll(5), None) if m.error() is None)
            assert first.offset() == 0  # nothing was deleted
        finally:
            consumer.close()
    finally:
        stop_pid(handle.pid)
