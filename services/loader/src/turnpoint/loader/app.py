"""The loader's composition root: settings in, a runnable `LoaderApp` out.

    app = bootstrap(LoaderSettings())      # wires the consumer, the dead-letter producer and the sink
    app.run(stop_event)                    # serves /healthz, /readyz, /metrics; consumes until stop_event is set

The embedded stack runs it as `turnpoint loader run`; tests call `bootstrap` with test settings and run it
on a thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any

from turnpoint.core import topics
from turnpoint.core.kafka import ensure_topics, make_consumer, make_producer
from turnpoint.core.observability import get_logger
from turnpoint.loader.errors import ConfigurationError
from turnpoint.loader.service import Loader
from turnpoint.loader.settings import LoaderSettings
from turnpoint.loader.sink import Sink
from turnpoint.loader.tables import TABLES
from turnpoint.web.stdlib import serve_health

log = get_logger(__name__)


@dataclass
class LoaderApp:
    settings: LoaderSettings
    loader: Loader
    sink: Sink
    health_server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int | None:
        """The port /healthz, /readyz and /metrics listen on once running (useful with port 0)."""
        return int(self.health_server.server_address[1]) if self.health_server else None

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self.loader.health()

    def run(self, stop: threading.Event) -> None:
        opts = self.settings.loader
        if opts.migrate_on_start and opts.dialect == "postgres":
            from turnpoint.loader.migrations import migrate

            for m in migrate(self.settings.dsn()):
                log.info("migration applied", version=m.version, name=m.name)
        # /healthz is liveness (never the database: an outage must not restart the loader), /readyz readiness
        self.health_server = serve_health(opts.port, "loader", self.health, host=self.settings.host)
        try:
            self.loader.run(stop)
        finally:
            self.health_server.shutdown()
            self.health_server.server_close()


def make_sink(settings: LoaderSettings) -> Sink:
    opts = settings.loader
    if opts.dialect == "postgres":
        from turnpoint.loader.postgres import PostgresSink

        return PostgresSink(settings.dsn(), direct_copy=opts.direct_copy, cooldown=opts.direct_copy_cooldown)
    if opts.odbc_connection_string is None:
        msg = "TURNPOINT_LOADER__DIALECT=odbc needs TURNPOINT_LOADER__ODBC_CONNECTION_STRING (DSN=...;UID=...;PWD=...)"
        raise ConfigurationError(msg)
    from turnpoint.loader.odbc import OdbcSink

    return OdbcSink(opts.odbc_connection_string.get_secret_value(), dialect=opts.odbc_dialect)


def bootstrap(settings: LoaderSettings, sink: Sink | None = None) -> LoaderApp:
    """Wire the loader from settings; `sink` replaces the database sink (tests, benchmarks)."""
    opts = settings.loader
    kafka = settings.kafka
    prefix = kafka.topic_prefix
    dlq = prefix + topics.LOADER_DLQ
    ensure_topics(kafka, [*(prefix + t.topic.name for t in TABLES), dlq])
    group = opts.group_id or topics.LOADER_GROUP.group_id
    consumer = make_consumer(kafka, group, **{"fetch.max.bytes": 104_857_600, "max.partition.fetch.bytes": 8_388_608,
                                              "fetch.wait.max.ms": opts.fetch_wait_ms})
    producer = make_producer(kafka)
    the_sink = sink if sink is not None else make_sink(settings)
    loader = Loader(
        consumer=consumer, producer=producer, sink=the_sink, tables=TABLES, topic_prefix=prefix,
        dead_letter_topic=dlq, batch_size=opts.batch_size, flush_interval_s=opts.flush_interval_ms / 1000,
        flush_linger_s=opts.flush_linger_ms / 1000,
        retry_initial_s=opts.retry_initial_ms / 1000, retry_max_s=opts.retry_max_ms / 1000,
        skew=settings.future_skew(), lateness_days=settings.lateness_days,
    )
    return LoaderApp(settings, loader, the_sink)
