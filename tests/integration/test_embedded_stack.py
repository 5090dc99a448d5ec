"""The embedded infrastructure the whole suite relies on: a real broker and a real PostgreSQL."""

from __future__ import annotations

import psycopg
from confluent_kafka import Producer

from turnpoint.core import topics
from turnpoint.core.contracts import Bar
from turnpoint.core.kafka import all_topic_names, make_consumer, make_producer
from turnpoint.core.serde import decode_items, encode_items


def test_catalogue_topics_exist_with_partitions(kafka_settings) -> None:
    from turnpoint.core.kafka import admin

    md = admin(kafka_settings).list_topics(timeout=10)
    for name in all_topic_names(kafka_settings):
        assert name in md.topics, name
        assert len(md.topics[name].partitions) == kafka_settings.partitions


def test_round_trip_through_broker(kafka_settings, unique) -> None:
    topic = topics.BARS.full_name(kafka_settings.topic_prefix)
    bar = Bar(symbol="005930", date="2024-01-02", open=1, high=2, low=0.5, close=1.5, volume=10)
    producer: Producer = make_producer(kafka_settings)
    producer.produce(topic, key=b"005930", value=encode_items([bar]))
    assert producer.flush(10) == 0
    consumer = make_consumer(kafka_settings, f"g-{unique}")
    consumer.subscribe([topic])
    try:
        msg = None
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                break
        assert msg is not None and msg.error() is None
        assert decode_items(Bar, msg.value()) == [bar]
    finally:
        consumer.close()


def test_postgres_is_real(database_url) -> None:
    with psycopg.connect(database_url) as conn:
        (version,) = conn.execute("SHOW server_version_num").fetchone()
        assert int(version) >= 150000


def test_lag_counts_every_record_of_a_batched_tail(kafka_settings, unique) -> None:
    """Tansu reports a short high watermark after a multi-record batch; group_lag must still see it all."""
    from turnpoint.core.kafka import group_lag

    topic = topics.READINGS.full_name(kafka_settings.topic_prefix)
    producer = Producer({"bootstrap.servers": kafka_settings.bootstrap_servers, "linger.ms": 50})
    for i in range(100):
        producer.produce(topic, key=b"s", value=b"%d" % i, partition=0)
    assert producer.flush(10) == 0
    assert group_lag(kafka_settings, f"g-{unique}", [topic]) == 100
