"""Nothing lost while Kafka is away: records spool to disk and are replayed in order when a broker appears."""

from __future__ import annotations

import time
from pathlib import Path

from turnpoint.core import topics
from turnpoint.core.settings import KafkaSettings
from turnpoint.ingest.acks import Poller
from turnpoint.ingest.reliable import ReliableSender
from turnpoint.ingest.spool import Spool

from turnpoint.cli.embedded import free_port, start_broker, stop_pid


def _reading(i: int) -> dict:
    return {"series": "s/1", "ts": f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "value": float(i), "unit": None,
            "source": None}


def test_spool_while_broker_down_then_replay_in_order(tmp_path: Path, unique: str, topic_reader) -> None:
    port = free_port()
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}", topic_prefix=f"sp{unique}.", partitions=1)
    spool = Spool(tmp_path / "spool", segment_bytes=4096, retention_days=1)
    sender = ReliableSender(kafka, spool, message_timeout_ms=1500)
    poller = Poller(sender.publisher).start()
    broker = None
    try:
        for i in range(100):
            sender.send(topics.READINGS, "s/1", [_reading(i)])
            time.sleep(0.01)
        deadline = time.monotonic() + 15
        while spool.appended < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert spool.appended == 100 and sender.spooling
        for i in range(100, 150):  # while spooling, new records go straight to the spool
            sender.send(topics.READINGS, "s/1", [_reading(i)])
        assert spool.appended == 150
        assert not sender.replay(timeout=5)  # still no broker
        spool.rotate()
        assert len(spool.segments()) > 1  # rotated by size
        broker = start_broker(port, tmp_path / "broker.log")
        deadline = time.monotonic() + 30
        while not sender.replay(timeout=10) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not sender.spooling and not spool.pending()
        sender.send(topics.READINGS, "s/1", [_reading(150)])  # direct again
        assert sender.flush(10) == 0
        msgs = topic_reader(kafka, topics.READINGS.full_name(kafka.topic_prefix), 151, timeout=20)
        values = [it["value"] for _k, items in msgs for it in items]
        assert sorted(values) == [float(i) for i in range(151)]  # nothing lost
        assert values[100:] == [float(i) for i in range(100, 151)]  # spooled records replayed in order
        assert len(list((tmp_path / "spool" / "replayed").glob("*.jsonl"))) >= 2
    finally:
        poller.stop()
        if broker is not None:
            stop_pid(broker.pid)
