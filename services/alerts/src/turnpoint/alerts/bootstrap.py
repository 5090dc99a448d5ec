"""The composition root: settings in, a wired alerts service out (evaluator and/or notifier, HTTP probes).

`bootstrap(settings)` is what `turnpoint alerts run` and the tests call; `run(settings)` serves it until
SIGTERM/SIGINT (uvicorn handles the signals), then stops consuming, flushes, commits and closes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from turnpoint.alerts.evaluator import Evaluator, Topics
from turnpoint.alerts.notifier import Notifier
from turnpoint.alerts.settings import AlertsSettings
from turnpoint.alerts.store import AlertStore
from turnpoint.alerts.web import create_app
from turnpoint.core import topics
from turnpoint.core.alerts.rules import RuleBook
from turnpoint.core.kafka import ensure_topics, make_consumer, make_producer
from turnpoint.core.observability import get_logger

log = get_logger(__name__)
STALLED_S = 60.0


@dataclass
class Service:
    settings: AlertsSettings
    book: RuleBook
    evaluator: Evaluator | None = None
    notifier: Notifier | None = None
    app: Any = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _workers(self) -> list[Evaluator | Notifier]:
        return [w for w in (self.evaluator, self.notifier) if w is not None]

    def health(self) -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {"service": self.settings.service_name, "role": self.settings.alerts.role}
        ok = True
        for name, w in (("evaluator", self.evaluator), ("notifier", self.notifier)):
            if w is None:
                continue
            stalled = w.alive and time.monotonic() - w.last_poll > STALLED_S
            detail[name] = {"alive": w.alive, "stalled": stalled}
            ok = ok and w.alive and not stalled
        return ok, detail

    def ready(self) -> tuple[bool, dict[str, Any]]:
        ok, detail = self.health()
        rules = self.book.current()
        detail["rules"] = {"file": str(self.book.path) if self.book.path else None, "count": len(rules.rules),
                           "error": self.book.error}
        if self.book.error is not None and not rules.rules:
            ok = False
        if self.notifier is not None:
            store = AlertStore(self.settings.dsn())
            try:
                store.ping()
                detail["database"] = "ok"
            except Exception as exc:
                detail["database"] = f"unavailable: {type(exc).__name__}"
                ok = False
            finally:
                store.reset()
        return ok, detail

    def start(self) -> None:
        for w in self._workers():
            t = threading.Thread(target=w.run, args=(self.stop_event,), name=type(w).__name__.lower(), daemon=True)
            t.start()
            self._threads.append(t)
        deadline = time.monotonic() + 10
        while not all(w.alive for w in self._workers()) and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        self.stop_event.set()
        for t in self._threads:
            t.join(timeout=30)


def bootstrap(settings: AlertsSettings) -> Service:
    cfg = settings.alerts
    book = RuleBook(cfg.rules_file)
    book.current()
    if book.error:
        log.error("alerts.rules_invalid", error=book.error)
    service = Service(settings, book)
    prefix = settings.kafka.topic_prefix
    names = Topics.with_prefix(prefix)
    ensure_topics(settings.kafka, [*names.inputs(), names.alerts, names.dead_letters])
    client = settings.kafka.client_id
    if cfg.role in ("all", "evaluator"):
        service.evaluator = Evaluator(
            make_consumer(settings.kafka, cfg.group_prefix + topics.ALERTS_EVALUATOR_GROUP.group_id),
            make_producer(settings.kafka, **{"client.id": f"{client}-alerts-evaluator", "linger.ms": 1}),
            book, names, batch_max=cfg.batch_max, poll_timeout=cfg.poll_timeout_s, tick_s=cfg.tick_s,
            jobs_poll_s=cfg.jobs_poll_s, warmup_messages=cfg.warmup_messages, service=settings.service_name,
            store=AlertStore(settings.dsn()),
        )
    if cfg.role in ("all", "notifier"):
        service.notifier = Notifier(
            make_consumer(settings.kafka, cfg.group_prefix + topics.ALERTS_NOTIFIER_GROUP.group_id),
            make_producer(settings.kafka, **{"client.id": f"{client}-alerts-notifier"}),
            settings.dsn(), book, cfg, names.alerts, names.dead_letters, service=settings.service_name,
        )
    service.app = create_app(service.health, service.ready)
    return service


def run(settings: AlertsSettings) -> None:
    import uvicorn

    service = bootstrap(settings)
    service.start()
    log.info("alerts.started", port=settings.alerts.port, role=settings.alerts.role,
             rules=len(service.book.current().rules), rules_file=str(settings.alerts.rules_file))
    config = uvicorn.Config(service.app, host=settings.host, port=settings.alerts.port, log_level="warning",
                            access_log=False, lifespan="off")
    try:
        uvicorn.Server(config).run()
    finally:
        service.close()
        log.info("alerts.stopped")
