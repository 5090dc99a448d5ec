"""The composition root: `bootstrap(settings)` wires the publisher, spool, drop-folder watcher and serial ports.

`turnpoint ingest run` = `build_app(settings, bootstrap(settings))` served by uvicorn; the app's lifespan
starts and stops this service. Tests call the same functions with test settings.

Every publish passes one `Gate`, held while `<spool_dir>/hold` exists (`turnpoint.ingest.hold`: the
embedded broker is being replaced): ports keep being read and their records are spooled, the write API
answers 503, drop files wait; after the release new producers send the spool in order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from turnpoint.core.observability import get_logger
from turnpoint.ingest import metrics
from turnpoint.ingest.acks import Poller
from turnpoint.ingest.hold import Gate, HoldWatch, PublishHold
from turnpoint.ingest.journal import JOURNAL_PRUNE_SECONDS, Journal, prune
from turnpoint.ingest.publisher import Publisher
from turnpoint.ingest.reliable import ReliableSender
from turnpoint.ingest.serial.lines import PortWorker
from turnpoint.ingest.settings import IngestSettings
from turnpoint.ingest.spool import Spool
from turnpoint.ingest.watcher import DropFolderWatcher

log = get_logger("turnpoint.ingest.service")


@dataclass
class IngestService:
    settings: IngestSettings
    publisher: Publisher  # the write API's producer (answers wait for acks)
    sender: ReliableSender  # live sources (serial): spools while Kafka is away
    watcher: DropFolderWatcher | None = None
    ports: list[PortWorker] = field(default_factory=list)
    _pollers: list[Poller] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _maintenance: threading.Thread | None = None
    journal: Journal | None = None
    gate: Gate = field(default_factory=Gate)
    control: PublishHold | None = None
    _hold_watch: HoldWatch | None = None

    def start(self) -> None:
        if self.control is not None:  # before any port is read: an ingest started while held starts held
            self._hold_watch = HoldWatch(self.control, self.gate, self.quiesce, self.resume)
            self._hold_watch.step()
            self._hold_watch.start()
        self._pollers = [Poller(self.publisher).start(), Poller(self.sender.publisher).start()]
        self._maintenance = threading.Thread(target=self._maintain, name="ingest-spool", daemon=True)
        self._maintenance.start()
        if self.watcher is not None:
            self.watcher.start()
        for port in self.ports:
            port.start()
        log.info("ingest started", ports=[p.cfg.name for p in self.ports],
                 drop_dir=str(self.watcher.folder) if self.watcher else None)

    def _maintain(self) -> None:
        """Replay the spool whenever something is in it; sync it (and the journal) regularly; prune the journal."""
        pruned_at = time.monotonic()
        while not self._stop.wait(1.0):
            try:
                self.sender.spool.sync()
                if self.sender.spooling or self.sender.spool.pending():
                    self.sender.replay()
                metrics.SPOOL_PENDING.set(len(self.sender.spool.segments()))
            except Exception as exc:
                log.error("spool maintenance failed", error=str(exc))
            if self.journal is None:
                continue
            try:
                self.journal.sync()
                if time.monotonic() - pruned_at >= JOURNAL_PRUNE_SECONDS:
                    pruned_at = time.monotonic()
                    prune(self.journal, self.settings.dsn(), lateness_days=self.settings.lateness_days,
                          future_skew_days=self.settings.future_skew_days)
            except Exception as exc:
                log.error("journal maintenance failed", error=str(exc))

    def quiesce(self) -> None:
        """With the gate closed: let every message in flight be acknowledged (a failed one is spooled)."""
        for publisher in (self.sender.publisher, self.publisher):
            left = publisher.flush(15.0)
            if left:  # never let them reach the next broker before its history: purged (the sender spools them)
                log.warning("messages still in flight while publishing is held: purged", in_flight=left)
                publisher.producer.purge()
                publisher.flush(2.0)
        self.sender.spool.sync()

    def resume(self) -> None:
        """Before the gate opens again: new producers (the broker may be a new one that never saw the old ids)."""
        self.sender.renew_producer()
        self.publisher.renew()

    def stop(self) -> None:
        """Stop reading, flush what was produced (spool the rest), close."""
        self._stop.set()
        if self._hold_watch is not None:
            self._hold_watch.stop()
        for port in self.ports:
            port.stop()
        if self.watcher is not None:
            self.watcher.stop()
        try:
            self.sender.close(10.0)
            self.publisher.flush(10.0)
            if self.journal is not None:
                self.journal.close()
        finally:
            for p in self._pollers:
                p.stop()
        log.info("ingest stopped")

    def health(self) -> tuple[bool, dict[str, Any]]:
        pollers_ok = all(p.alive() for p in self._pollers) if self._pollers else True
        s = self.publisher.stats
        detail: dict[str, Any] = {
            "kafka": {"bootstrap": self.settings.kafka.bootstrap_servers, "acked": s.messages_acked,
                      "failed": s.messages_failed, "last_error": s.last_error},
            "spool": {"spooling": self.sender.spooling, "segments": len(self.sender.spool.segments()),
                      "held": self.gate.held},
            "serial": {p.cfg.name: p.status() for p in self.ports},
            "drop_folder": self.watcher.status() if self.watcher else None,
        }
        return pollers_ok, detail


def bootstrap(settings: IngestSettings) -> IngestService:
    cfg = settings.ingest
    journal = None
    if cfg.journal:
        journal = Journal(cfg.spool_dir / "journal", settings.kafka, cfg.spool_segment_bytes, cfg.spool_retention_days)
    Publisher.default_journal = journal  # every publisher this process makes journals its acknowledged records
    spool = Spool(cfg.spool_dir, cfg.spool_segment_bytes, cfg.spool_retention_days)
    control = PublishHold(cfg.spool_dir)
    gate = Gate(held=control.requested() is not None)
    sender = ReliableSender(settings.kafka, spool, gate=gate)
    watcher = DropFolderWatcher(settings, cfg.drop_dir, cfg.drop_poll_seconds, gate) if cfg.drop_dir else None
    ports: list[PortWorker] = []
    if cfg.serial_config is not None:
        from turnpoint.ingest.serial.config import load_serial_config
        from turnpoint.ingest.serial.lines import LinePortReader
        from turnpoint.ingest.serial.modbus import ModbusPoller

        for port in load_serial_config(cfg.serial_config).ports:
            ports.append(ModbusPoller(port, sender) if port.protocol == "modbus" else LinePortReader(port, sender))
    return IngestService(settings, Publisher(settings.kafka), sender, watcher, ports, journal=journal, gate=gate,
                         control=control)
