"""Modbus RTU polling with pymodbus: register maps, data types, byte/word order, scale; retries; reconnect.

Each poll reads every register of the map (one request per register), converts the 16-bit words to the
configured type and emits readings stamped with the poll time (UTC). A request that fails after the
client's retries (no answer, CRC error, exception response) goes to the dead-letter topic with the raw
bytes seen on the wire; after `reconnect_after_failures` failed polls in a row the port is reopened.
"""

from __future__ import annotations

import struct
from typing import Any

from turnpoint.core.contracts import utcnow
from turnpoint.ingest.serial.config import PortConfig, Register
from turnpoint.ingest.serial.emit import Emitter, Sink
from turnpoint.ingest.serial.lines import PortWorker, log
from turnpoint.ingest.serial.protocols import Sample

_FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f", "int64": "q",
            "uint64": "Q", "float64": "d"}


def decode_registers(words: list[int], reg: Register) -> float:
    """The value of `reg` from its 16-bit registers (as read, first register first)."""
    ordered = list(words) if reg.word_order == "big" else list(reversed(words))
    raw = b"".join(w.to_bytes(2, "big") for w in ordered)
    if reg.byte_order == "little":  # bytes swapped inside each register
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    (value,) = struct.unpack(">" + _FORMATS[reg.type], raw)
    return float(value) * reg.scale + reg.offset


def encode_registers(value: float, reg: Register) -> list[int]:
    """The inverse of decode_registers (for simulators and tests)."""
    raw_value = (value - reg.offset) / reg.scale
    fmt = _FORMATS[reg.type]
    raw = struct.pack(">" + fmt, raw_value if fmt in "fd" else round(raw_value))
    if reg.byte_order == "little":
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return words if reg.word_order == "big" else list(reversed(words))


class ModbusPoller(PortWorker):
    def __init__(self, cfg: PortConfig, sink: Sink) -> None:
        super().__init__(cfg, sink)
        assert cfg.modbus is not None
        self.mb = cfg.modbus
        self.emitter = Emitter(sink, f"modbus:{cfg.name}")
        self.polls = 0
        self._wire: list[bytes] = []

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._wire.append(bytes(data))
        return data

    def session(self) -> None:
        from pymodbus.client import ModbusSerialClient

        client = ModbusSerialClient(
            self.cfg.device, baudrate=self.cfg.baudrate, parity=self.cfg.parity, stopbits=int(self.cfg.stopbits),
            bytesize=self.cfg.bytesize, timeout=self.mb.request_timeout, retries=self.mb.retries,
            trace_packet=self._trace, reconnect_delay=0,
        )
        if not client.connect():
            msg = f"cannot open {self.cfg.device}"
            raise ConnectionError(msg)
        self.opens += 1
        self.connected = True
        self.backoff.reset()
        log.info("modbus port open", port=self.cfg.name, device=self.cfg.device)
        failures = 0
        try:
            while not self.stop_event.is_set():
                started = utcnow()
                ok = self.poll(client, started)
                failures = 0 if ok else failures + 1
                if failures >= self.mb.reconnect_after_failures:
                    msg = f"{failures} polls in a row failed; the device stopped answering"
                    raise ConnectionError(msg)
                elapsed = (utcnow() - started).total_seconds()
                self.stop_event.wait(max(0.0, self.mb.interval - elapsed))
        finally:
            client.close()

    def poll(self, client: Any, at: Any) -> bool:
        """Read every register once; emit what was read; True when every request succeeded."""
        from pymodbus.exceptions import ModbusException

        all_ok = True
        samples: list[Sample] = []
        for reg in self.mb.registers:
            self._wire.clear()
            read = client.read_holding_registers if reg.table == "holding" else client.read_input_registers
            try:
                rr = read(reg.address, count=reg.count, device_id=self.mb.device_id)
                if rr.isError():
                    raise ModbusException(f"exception response {rr}")  # noqa: EM102
                words = list(rr.registers)[: reg.count]
                if len(words) != reg.count:
                    raise ModbusException(f"{len(words)} registers, expected {reg.count}")  # noqa: EM102
            except (ModbusException, OSError, ValueError) as exc:
                all_ok = False
                text = str(exc)
                reason = "crc-error" if "crc" in text.lower() else "modbus-error"
                self.reject(reason, f"register {reg.address} ({reg.series}): {text}", b"".join(self._wire))
                continue
            samples.append((reg.series, decode_registers(words, reg), reg.unit, None))
        if samples:
            self.emitter.add(samples, at)
            self.emitter.flush()
        self.polls += 1
        return all_ok
