"""Helpers for the ingest integration tests: read back what was published, with timeouts."""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from pathlib import Path
from typing import Any

import orjson
import pytest
from turnpoint.core.kafka import make_consumer
from turnpoint.core.settings import KafkaSettings


def read_topic(kafka: KafkaSettings, topic: str, expect_items: int, timeout: float = 20.0) -> list[tuple[str, list[dict[str, Any]]]]:
    """(key, items) of every message on `topic` until `expect_items` items arrived or `timeout` passed."""
    consumer = make_consumer(kafka, f"reader-{topic}-{time.monotonic_ns()}")
    consumer.subscribe([topic])
    out: list[tuple[str, list[dict[str, Any]]]] = []
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and seen < expect_items:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            items = orjson.loads(msg.value())["items"]
            out.append(((msg.key() or b"").decode(), items))
            seen += len(items)
    finally:
        consumer.close()
    return out


@pytest.fixture
def topic_reader():  # type: ignore[no-untyped-def]
    """`read_topic(kafka, topic, expect_items, timeout)` for tests."""
    return read_topic


@pytest.fixture
def ingest_settings(kafka_settings: KafkaSettings, tmp_path):  # type: ignore[no-untyped-def]
    from turnpoint.ingest.settings import IngestConfig, IngestSettings

    return IngestSettings(kafka=kafka_settings, ingest=IngestConfig(port=0, spool_dir=tmp_path / "spool"))


@pytest.fixture
def ingest_database(fresh_database: str) -> str:
    """A fresh database with the project's migrations applied (api_token, ingest_idempotency, ...)."""
    from turnpoint.loader.migrations import migrate

    migrate(fresh_database)
    return fresh_database


# -- serial devices for tests: pseudo-terminals (no hardware, no socat) --------------------------------


class PtyDevice:
    """A 'USB adapter': `path` is a symlink to the current pty slave; the test writes to `master`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.master: int | None = None
        self.plug()

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)
        tmp = self.path.with_suffix(".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(name)
        tmp.replace(self.path)
        self.master = master

    def unplug(self) -> None:
        self.path.unlink(missing_ok=True)
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def write(self, data: bytes) -> None:
        assert self.master is not None
        view = memoryview(data)
        while view:
            n = os.write(self.master, view)
            view = view[n:]

    def read(self, timeout: float) -> bytes:
        assert self.master is not None
        r, _, _ = select.select([self.master], [], [], timeout)
        return os.read(self.master, 4096) if r else b""


def crc16(data: bytes) -> bytes:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc.to_bytes(2, "little")


class ModbusResponder:
    """Answers RTU read-holding/input-register requests from `registers` on a PtyDevice's master.

    `corrupt_next` answers the next request with a bad CRC; `silent` stops answering (a dead device).
    """

    def __init__(self, dev: PtyDevice, registers: dict[int, int], device_id: int = 1) -> None:
        self.dev = dev
        self.registers = registers
        self.device_id = device_id
        self.corrupt_next = 0
        self.silent = False
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = b""
        while not self._stop.is_set():
            try:
                buf += self.dev.read(0.05) if self.dev.master is not None else b""
            except OSError:
                buf = b""
                time.sleep(0.05)
                continue
            while len(buf) >= 8:
                frame, buf = buf[:8], buf[8:]
                if crc16(frame[:6]) != frame[6:]:
                    buf = b""
                    break
                self.requests += 1
                if self.silent:
                    continue
                unit, func = frame[0], frame[1]
                addr, count = int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[4:6], "big")
                body = bytes([unit, func, 2 * count]) + b"".join(
                    self.registers.get(addr + i, 0).to_bytes(2, "big") for i in range(count))
                crc = crc16(body)
                if self.corrupt_next:
                    self.corrupt_next -= 1
                    crc = bytes([crc[0] ^ 0xFF, crc[1]])
                self.dev.write(body + crc)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


@pytest.fixture
def serial_sim():  # type: ignore[no-untyped-def]
    """(PtyDevice, ModbusResponder) classes."""
    return PtyDevice, ModbusResponder
