"""Structured logging (ECS JSON via structlog) and a health + Prometheus endpoint for worker processes."""

from __future__ import annotations

import datetime
import logging
import sys
import threading
from typing import Any

import ecs_logging
import orjson
import structlog


class _AccessFields(logging.Filter):
    """uvicorn's access records carry (client, method, path, http version, status) as message args:
    give them the ECS fields a log search filters on, beside the readable message."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            record.__dict__.update({
                "client.address": str(client), "http.request.method": str(method), "url.path": str(path),
                "http.version": str(version), "http.response.status_code": status,
            })
        return True


def _error_field(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """`log.error("x", error="text")` means ECS `error.message`: a plain string under `error` would clash with
    the stack trace ecs_logging files under `error` when the call also passes `exc_info`."""
    error = event_dict.get("error")
    if error is not None and not isinstance(error, dict):
        event_dict["error"] = {"message": str(error)}
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "json") -> None:
    """Every line of the process on stderr: ECS JSON (or readable text for consoles), one `service.name`.

    structlog (the services' own lines) and the standard library (uvicorn, Faust, aiokafka, librdkafka
    routed through logging) share one handler and one formatter, so no line escapes as plain text. The ECS
    formatters write `@timestamp` and `log.level` themselves: no `timestamp`/`level` duplicates."""
    level = level.upper()
    json = fmt == "json"

    def add_service(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        event_dict.setdefault("service.name", service)  # also on lines of threads without our contextvars
        return event_dict

    processors: list[Any] = [structlog.contextvars.merge_contextvars, add_service, _error_field]
    if json:
        processors += [structlog.processors.format_exc_info, ecs_logging.StructlogFormatter()]
    else:
        processors += [structlog.processors.add_log_level, structlog.processors.TimeStamper(fmt="iso", utc=True),
                       structlog.processors.format_exc_info, structlog.dev.ConsoleRenderer()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        ecs_logging.StdlibFormatter(extra={"service.name": service}, exclude_fields=["log.original"]) if json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # served with log_config=None: ours, not theirs
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.captureWarnings(True)  # warnings.warn(...) of libraries as log records, not bare stderr text
    if json:
        _log_uncaught(service)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessFields) for f in access.filters):
        access.addFilter(_AccessFields())


def ecs_line(service: str, message: str, level: str = "info", **fields: Any) -> bytes:
    """One ECS JSON log line (with its newline) for a process that writes a log file without logging
    configured: the dev supervisor, the wrapped output of a CLI step, the broker's start record."""
    now = datetime.datetime.now(datetime.UTC)
    doc = {"@timestamp": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"), "log.level": level,
           "message": message, "ecs.version": "1.6.0", "service": {"name": service}, **fields}
    return orjson.dumps(doc) + b"\n"


def _log_uncaught(service: str) -> None:
    """Uncaught exceptions (main thread and others) become ECS lines too, not a bare traceback."""
    log = logging.getLogger("turnpoint.uncaught")

    def hook(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        log.critical("uncaught exception in %s", service, exc_info=(exc_type, exc, tb))

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is not SystemExit and args.exc_value is not None:
            log.critical("uncaught exception in thread %s", getattr(args.thread, "name", "?"),
                         exc_info=(args.exc_type, args.exc_value, args.exc_traceback))

    sys.excepthook = hook
    threading.excepthook = thread_hook


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)

