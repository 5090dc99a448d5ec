"""The ingest spool after a broker that stopped answering (frozen, not gone) and came back.

Found by tests/e2e/test_faults.py: after a freeze longer than the delivery timeout, the idempotent
producer's messages time out, the broker then fences the producer, and every replay of the spool failed
the same way forever.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from support.transform import read_topic

from turnpoint.cli.embedded import free_port, start_broker, stop_pid
from turnpoint.core import topics
from turnpoint.core.kafka import ensure_topics
from turnpoint.core.settings import KafkaSettings
from turnpoint.ingest.acks import Poller
from turnpoint.ingest.reliable import ReliableSender
from turnpoint.ingest.spool import Spool


def read_items(bootstrap: str, topic: str) -> list[dict]:
    return read_topic(bootstrap, topic, done=lambda items: True, timeout=30, quiet=2)


def _reading(i: int) -> dict:
    return {"series": "s/1", "ts": f"2025-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "value": float(i), "unit": None, "source": None}


def test_spool_drains_after_the_broker_was_frozen(tmp_path: Path, unique: str) -> None:
    broker = start_broker(free_port(), tmp_path / "broker.log")
    kafka = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix=f"fz{unique}.", partitions=2)
    ensure_topics(kafka)
    spool = Spool(tmp_path / "spool", segment_bytes=1 << 20, retention_days=1)
    sender = ReliableSender(kafka, spool, message_timeout_ms=2000)
    poller = Poller(sender.publisher).start()
    assert broker.pid is not None
    try:
        sent = 0
        for _ in range(20):  # the producer has a producer id and sequence numbers on the broker
            sender.send(topics.READINGS, "s/1", [_reading(sent)])
            sent += 1
        assert sender.flush(10) == 0 and not sender.spooling
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline:
                sender.send(topics.READINGS, "s/1", [_reading(sent)])
                sent += 1
                time.sleep(0.05)
            assert sender.spooling
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        deadline = time.monotonic() + 60
        while not sender.replay(timeout=5):
            assert time.monotonic() < deadline, "the spool was not replayed within 60 s of the broker's return"
            time.sleep(0.5)
        for _ in range(10):  # direct sends work again afterwards
            sender.send(topics.READINGS, "s/1", [_reading(sent)])
            sent += 1
        assert sender.flush(10) == 0
        values = {item["value"] for item in read_items(broker.bootstrap, topics.READINGS.full_name(kafka.topic_prefix))}
        assert values == {float(i) for i in range(sent)}
    finally:
        poller.stop()
        sender.close(2)
        stop_pid(broker.pid)
