"""Serial ports over real pseudo-terminals: line protocols, unplug/replug, Modbus RTU with CRC errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from turnpoint.ingest.serial.config import PortConfig
from turnpoint.ingest.serial.lines import LinePortReader
from turnpoint.ingest.serial.modbus import ModbusPoller, encode_registers
from turnpoint.ingest.serial.protocols import xor8


class ListSink:
    def __init__(self) -> None:
        self.readings: list[dict[str, Any]] = []
        self.dead: list[tuple[str, str, bytes]] = []
        self.jobs: list[dict[str, Any]] = []  # the port's freshness (turnpoint.jobs.v1)

    def send(self, spec, key, items) -> None:  # type: ignore[no-untyped-def]
        if spec.name == "turnpoint.jobs.v1":
            assert all(i["job"] == key for i in items)
            self.jobs.extend(items)
            return
        assert all(i["series"] == key for i in items)
        self.readings.extend(items)

    def dead_letter(self, spec, reason, detail, payload, key=None) -> None:  # type: ignore[no-untyped-def]
        self.dead.append((reason, detail, payload if isinstance(payload, bytes) else payload.encode()))


def wait_for(cond, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    pytest.fail(f"condition not met within {timeout}s")


def checked(line: bytes) -> bytes:
    return line + b"*%02X\n" % xor8(line)


def test_kv_lines_with_checksums_garbage_and_unplug(tmp_path: Path, serial_sim) -> None:
    PtyDevice, _ = serial_sim
    dev = PtyDevice(tmp_path / "ttyUSB0")
    cfg = PortConfig(name="env", device=str(dev.path), baudrate=115200, protocol="kv", checksum="xor8",
                     fields={"t": {"series": "room/temp", "unit": "degC"}, "h": {"series": "room/hum", "unit": "%"}},
                     backoff={"initial": 0.05, "max": 0.2})
    sink = ListSink()
    reader = LinePortReader(cfg, sink)
    reader.start()
    try:
        wait_for(lambda: reader.connected)
        dev.write(checked(b"t=21.5 h=40") + checked(b"t=21.6 h=41"))
        dev.write(b"t=99 h=1*00\n")  # bad checksum
        dev.write(b"\x00\xff\xfegarbage\n")  # garbage
        wait_for(lambda: len(sink.readings) == 4 and len(sink.dead) == 2)
        temps = [r for r in sink.readings if r["series"] == "room/temp"]
        assert [r["value"] for r in temps] == [21.5, 21.6]
        assert temps[0]["ts"] < temps[1]["ts"] and temps[0]["ts"].endswith("Z")
        assert [d[0] for d in sink.dead] == ["bad-checksum", "no-checksum"]
        assert sink.dead[1][2] == b"\x00\xff\xfegarbage"
        # unplug in the middle of a line, then plug a new adapter at the same path
        dev.write(b"t=22")
        time.sleep(0.2)
        dev.unplug()
        wait_for(lambda: not reader.connected)
        wait_for(lambda: any(d[0] == "partial-line" for d in sink.dead))
        assert next(d for d in sink.dead if d[0] == "partial-line")[2] == b"t=22"
        dev.plug()
        wait_for(lambda: reader.connected and reader.opens == 2)
        dev.write(checked(b"t=23.0"))
        wait_for(lambda: len(sink.readings) == 5)
        assert sink.readings[-1]["value"] == 23.0
    finally:
        reader.stop()
        dev.unplug()


def test_modbus_rtu_polling_crc_errors_and_dead_device(tmp_path: Path, serial_sim) -> None:
    PtyDevice, ModbusResponder = serial_sim
    dev = PtyDevice(tmp_path / "ttyRS485")
    cfg = PortConfig.model_validate({
        "name": "meter", "device": str(dev.path), "baudrate": 19200, "protocol": "modbus",
        "backoff": {"initial": 0.05, "max": 0.2},
        "modbus": {"interval": 0.05, "request_timeout": 0.2, "retries": 0, "reconnect_after_failures": 2,
                   "registers": [
                       {"series": "meter/voltage", "address": 0, "type": "uint16", "scale": 0.1, "unit": "V"},
                       {"series": "meter/power", "address": 10, "type": "float32", "word_order": "little", "unit": "W"},
                       {"series": "meter/energy", "address": 20, "type": "int32", "unit": "Wh"},
                   ]},
    })
    regs_cfg = cfg.modbus.registers  # type: ignore[union-attr]
    registers: dict[int, int] = {}
    for reg, value in zip(regs_cfg, (230.4, 1234.5, -70000), strict=True):
        for i, w in enumerate(encode_registers(value, reg)):
            registers[reg.address + i] = w
    sim = ModbusResponder(dev, registers)
    sink = ListSink()
    poller = ModbusPoller(cfg, sink)
    poller.start()
    try:
        wait_for(lambda: len(sink.readings) >= 6)
        by = {r["series"]: r["value"] for r in sink.readings}
        assert by["meter/voltage"] == pytest.approx(230.4)
        assert by["meter/power"] == 1234.5 and by["meter/energy"] == -70000
        sim.corrupt_next = 1
        wait_for(lambda: any(d[0] in ("crc-error", "modbus-error") for d in sink.dead))
        sim.silent = True  # the device stops answering: the port is reopened
        wait_for(lambda: poller.opens >= 2, timeout=15)
        sim.silent = False
        n = len(sink.readings)
        wait_for(lambda: len(sink.readings) > n + 3)
    finally:
        poller.stop()
        sim.stop()
        dev.unplug()
