"""The core consume loop on the real broker: a failed batch is read again, also before any commit."""

from __future__ import annotations

import threading
import time
from typing import Any

from confluent_kafka import Producer

from turnpoint.core import topics
from turnpoint.core.checkpoint import Checkpoint
from turnpoint.core.consume import ConsumeLoop, records
from turnpoint.core.errors import InfrastructureUnavailable
from turnpoint.core.kafka import committed_offsets, make_consumer

N = 40


def test_a_failed_first_batch_is_read_again_and_every_record_ends_committed(kafka_settings: Any, unique: str) -> None:
    topic = topics.READINGS.full_name(kafka_settings.topic_prefix)
    producer = Producer({"bootstrap.servers": kafka_settings.bootstrap_servers})
    for i in range(N):
        producer.produce(topic, key=b"k", value=b"%d" % i, partition=i % 2)
    assert producer.flush(30) == 0

    group = f"loop-{unique}"
    consumer = make_consumer(kafka_settings, group)
    checkpoint = Checkpoint(consumer, producer, service="test")
    stop = threading.Event()
    failed: list[bytes] = []
    done: list[bytes] = []  # values of the batches that committed
    deadline = time.monotonic() + 60

    def step() -> None:
        batch = [m.value() for m in records(consumer.consume(num_messages=N, timeout=0.5), checkpoint)]
        if batch and not failed:  # the first batch fails after it was read, before anything was ever committed
            failed.extend(batch)
            msg = "sink down"
            raise InfrastructureUnavailable(msg)
        checkpoint.commit()
        done.extend(batch)
        if len(set(done)) == N or time.monotonic() > deadline:
            stop.set()

    loop = ConsumeLoop(consumer, None, [topic], step, "test.batch_failed", checkpoint=checkpoint, backoff_s=0.05)
    runner = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    runner.start()
    runner.join(timeout=90)
    assert not runner.is_alive()
    assert failed, "the first batch did not fail"
    assert set(failed) <= set(done), "records of the failed batch were skipped, not read again"
    assert sorted(int(v) for v in set(done)) == list(range(N))

    reader = make_consumer(kafka_settings, group)
    try:
        assert committed_offsets(reader, [(topic, 0), (topic, 1)]) == {(topic, 0): N // 2, (topic, 1): N // 2}
    finally:
        reader.close()
