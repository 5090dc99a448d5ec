"""Reading a line-protocol port: open, read, split lines, parse, emit; reopen with backoff on failure.

Runs on its own thread per port. Bytes that are not a valid line (garbage, bad checksum, a partial line
cut by an unplug, a line longer than `max_line`) go to the readings dead-letter topic with the raw bytes.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from turnpoint.core import topics
from turnpoint.core.contracts import utcnow
from turnpoint.core.observability import get_logger
from turnpoint.ingest import metrics
from turnpoint.ingest.serial.config import PortConfig
from turnpoint.ingest.serial.emit import Emitter, Sink
from turnpoint.ingest.serial.protocols import LineError, LineParser

log = get_logger("turnpoint.ingest.serial")


def open_port(cfg: PortConfig, timeout: float | None = None) -> Any:
    """Open a device path or pyserial URL with the configured settings (RS485 mode when asked)."""
    import serial
    import serial.rs485

    port = serial.serial_for_url(
        cfg.device, do_not_open=True, baudrate=cfg.baudrate, parity=cfg.parity, stopbits=cfg.stopbits,
        bytesize=cfg.bytesize, timeout=cfg.timeout if timeout is None else timeout, exclusive=None,
    )
    if cfg.rs485 is not None:
        port.rs485_mode = serial.rs485.RS485Settings(**cfg.rs485.model_dump())
    port.open()
    return port


class Backoff:
    def __init__(self, initial: float, maximum: float, factor: float) -> None:
        self.initial, self.maximum, self.factor = initial, maximum, factor
        self.delay = initial

    def next(self) -> float:
        d = self.delay
        self.delay = min(self.delay * self.factor, self.maximum)
        return d

    def reset(self) -> None:
        self.delay = self.initial


class PortWorker:
    """Base of the per-port threads: lifecycle, reconnect loop with backoff, status for /healthz."""

    def __init__(self, cfg: PortConfig, sink: Sink) -> None:
        self.cfg = cfg
        self.sink = sink
        self.stop_event = threading.Event()
        self.connected = False
        self.opens = 0
        self.errors: dict[str, int] = {}
        self.last_error: str | None = None
        self.thread = threading.Thread(target=self._loop, name=f"serial:{cfg.name}", daemon=True)
        self.backoff = Backoff(cfg.backoff.initial, cfg.backoff.max, cfg.backoff.factor)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)

    def status(self) -> dict[str, Any]:
        return {"device": self.cfg.device, "protocol": self.cfg.protocol, "connected": self.connected,
                "opens": self.opens, "errors": dict(self.errors), "last_error": self.last_error}

    def reject(self, reason: str, detail: str, raw: bytes) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        metrics.SERIAL_ERRORS.labels(self.cfg.name, reason).inc()
        self.sink.dead_letter(topics.READINGS, reason, f"port {self.cfg.name} ({self.cfg.device}): {detail}", raw,
                              key=self.cfg.name)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.session()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                metrics.SERIAL_RECONNECTS.labels(self.cfg.name).inc()
                if self.connected:
                    log.warning("port lost; reopening with backoff", port=self.cfg.name, error=self.last_error)
                else:
                    log.debug("port not available", port=self.cfg.name, error=self.last_error)
            finally:
                self.connected = False
                metrics.SERIAL_CONNECTED.labels(self.cfg.name).set(0)
            self.stop_event.wait(self.backoff.next())

    def session(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class LinePortReader(PortWorker):
    """A port that sends text lines (bare values, CSV, key=value, JSON)."""

    def __init__(self, cfg: PortConfig, sink: Sink) -> None:
        super().__init__(cfg, sink)
        self.parser = LineParser(cfg)
        self.emitter = Emitter(sink, f"serial:{cfg.name}")

    def session(self) -> None:
        port = open_port(self.cfg)
        self.opens += 1
        self.connected = True
        metrics.SERIAL_CONNECTED.labels(self.cfg.name).set(1)
        self.backoff.reset()
        log.info("port open", port=self.cfg.name, device=self.cfg.device)
        buf = b""
        last_byte = time.monotonic()
        try:
            while not self.stop_event.is_set():
                chunk = port.read(max(port.in_waiting, 1))
                now = time.monotonic()
                if not chunk:
                    if self.cfg.idle_reconnect_seconds and now - last_byte > self.cfg.idle_reconnect_seconds:
                        msg = f"no data for {self.cfg.idle_reconnect_seconds}s"
                        raise TimeoutError(msg)
                    continue
                last_byte = now
                buf = self.feed(buf + chunk)
        except BaseException:
            if buf:
                self.reject("partial-line", "the port closed in the middle of a line", buf)
            raise
        finally:
            self.emitter.flush()
            port.close()

    def feed(self, buf: bytes) -> bytes:
        """Handle every complete line in `buf`; return the incomplete rest."""
        received = utcnow()
        lines = buf.split(b"\n")
        rest = lines.pop()
        for raw in lines:
            try:
                samples = self.parser.parse(raw)
            except LineError as exc:
                self.reject(exc.reason, str(exc), raw)
                continue
            if samples:
                self.emitter.add(samples, received)
        if len(rest) > self.cfg.max_line:
            self.reject("line-too-long", f"more than {self.cfg.max_line} bytes without a newline", rest)
            rest = b""
        self.emitter.flush()
        return rest
