"""The ingest's publish hold (`turnpoint.ingest.hold`): while the embedded broker is replaced, records are
spooled in order and sent after the release, none lost and none twice; a restarted ingest starts held."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from turnpoint.core import topics
from turnpoint.core.settings import KafkaSettings
from turnpoint.ingest.hold import Gate, HoldWatch, PublishHold
from turnpoint.ingest.publisher import Publisher
from turnpoint.ingest.reliable import ReliableSender
from turnpoint.ingest.spool import Spool

pytestmark = pytest.mark.unit


class FakeProducer:
    """Acknowledges every message on the next poll/flush; remembers what reached "the broker"."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, bytes]] = []
        self._pending: list[tuple[Any, Any]] = []

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None, on_delivery: Any = None,
                **_: Any) -> None:
        msg = _Msg(topic, key, value)
        self._pending.append((on_delivery, msg))

    def poll(self, _timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for cb, msg in pending:
            self.delivered.append((msg.topic(), msg.value()))
            if cb is not None:
                cb(None, msg)
        return len(pending)

    def flush(self, _timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self._pending)


class _Msg:
    def __init__(self, topic: str, key: Any, value: bytes) -> None:
        self._t, self._k, self._v = topic, key, value

    def topic(self) -> str:
        return self._t

    def key(self) -> Any:
        return self._k

    def value(self) -> bytes:
        return self._v


def _sender(tmp_path: Path, gate: Gate) -> tuple[ReliableSender, FakeProducer]:
    producer = FakeProducer()
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_prefix="", partitions=1)
    sender = ReliableSender(kafka, Spool(tmp_path / "spool", segment_bytes=512), publisher=Publisher(kafka, producer),
                            gate=gate)
    sender._broker_ready = lambda: True  # type: ignore[method-assign]
    return sender, producer


def _reading(i: int) -> dict[str, Any]:
    return {"series": "s/1", "ts": f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}Z", "value": float(i)}


def _values(producer: FakeProducer) -> list[float]:
    return [it["value"] for _t, v in producer.delivered for it in orjson.loads(v)["items"]]


def test_the_gate_waits_for_the_publishes_under_way_and_refuses_new_ones() -> None:
    gate = Gate()
    assert gate.enter()
    closed = threading.Event()
    t = threading.Thread(target=lambda: (gate.close(), closed.set()))
    t.start()
    time.sleep(0.2)
    assert not closed.is_set() and gate.held  # one publish is still under way
    assert not gate.enter()  # none can start meanwhile
    gate.leave()
    t.join(2)
    assert closed.is_set()
    with gate.passage() as open_:
        assert not open_
    gate.open()
    with gate.passage() as open_:
        assert open_
    assert gate.close(timeout=0.1)


def test_held_records_are_spooled_in_order_and_sent_once_after_the_release(tmp_path: Path) -> None:
    gate = Gate()
    control = PublishHold(tmp_path / "spool")
    sender, producer = _sender(tmp_path, gate)
    resumed: list[bool] = []
    watch = HoldWatch(control, gate, quiesce=lambda: sender.flush(1), resume=lambda: resumed.append(True))
    for i in range(5):
        sender.send(topics.READINGS, "s/1", [_reading(i)])
    sender.flush(1)
    assert _values(producer) == [0, 1, 2, 3, 4]

    acked: list[bool] = []
    holder = threading.Thread(target=lambda: acked.append(control.hold(timeout=5)))
    holder.start()
    while not acked:  # the ingest's hold thread: closes the gate, flushes, acknowledges
        watch.step()
        time.sleep(0.05)
    holder.join()
    assert acked == [True] and gate.held
    for i in range(5, 60):  # the ports are still read: every record goes to the spool
        sender.send(topics.READINGS, "s/1", [_reading(i)])
    sender.spool.sync()
    assert sender.spool.appended == 55 and len(producer.delivered) == 5
    assert not sender.replay(timeout=1)  # nothing is replayed while held
    assert len(producer.delivered) == 5

    control.release()
    watch.step()
    assert not gate.held and resumed == [True]
    sender.send(topics.READINGS, "s/1", [_reading(60)])  # after the release, still behind the spool
    assert sender.replay(timeout=1)
    sender.send(topics.READINGS, "s/1", [_reading(61)])  # the spool is empty: direct again
    sender.flush(1)
    assert _values(producer) == [float(i) for i in range(62)]  # in order, none lost, none twice
    assert not sender.spooling and not sender.spool.pending()


def test_a_hold_survives_an_ingest_restart_and_needs_no_running_ingest(tmp_path: Path) -> None:
    control = PublishHold(tmp_path / "spool")
    assert control.hold(timeout=30, running=lambda: False)  # no ingest runs: nothing to wait for
    assert control.requested() is not None
    # an ingest (re)started now starts held, as `bootstrap` builds it
    gate = Gate(held=PublishHold(tmp_path / "spool").requested() is not None)
    sender, producer = _sender(tmp_path, gate)
    sender.send(topics.READINGS, "s/1", [_reading(0)])
    sender.flush(1)
    assert producer.delivered == [] and sender.spool.appended == 1
    watch = HoldWatch(control, gate, quiesce=lambda: None, resume=lambda: None)
    watch.step()  # it acknowledges the hold it found
    assert control.acknowledged(control.requested() or "")
    control.release()
    watch.step()
    assert sender.replay(timeout=1) and _values(producer) == [0.0]


def test_an_unacknowledged_hold_times_out(tmp_path: Path) -> None:
    control = PublishHold(tmp_path)
    t0 = time.monotonic()
    assert not control.hold(timeout=0.3)  # an ingest runs but never answers
    assert time.monotonic() - t0 < 2


def test_drop_files_wait_while_held_and_are_taken_after_the_release(tmp_path: Path) -> None:
    from turnpoint.core.settings import TurnpointSettings
    from turnpoint.ingest.watcher import DropFolderWatcher

    gate = Gate(held=True)
    watcher = DropFolderWatcher(TurnpointSettings(), tmp_path / "drop", gate=gate)
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "m.csv").write_text("symbol,date,open,high,low,close,volume\n")
    taken: list[Path] = []
    watcher.process = lambda path: taken.append(path) or "done"  # type: ignore[method-assign]
    for _ in range(3):
        assert watcher.scan() == []
    assert taken == [] and (tmp_path / "drop" / "m.csv").exists()
    gate.open()
    assert watcher.scan() == [tmp_path / "drop" / "m.csv"] and taken == [tmp_path / "drop" / "m.csv"]
