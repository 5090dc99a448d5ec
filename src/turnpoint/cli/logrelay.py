"""Relay a child's plain-text output into ECS JSON lines: `python -m turnpoint.cli.logrelay SERVICE LOGFILE`.

The embedded broker (Tansu) logs through Rust's `tracing` in its own text format, with colour codes, and has no
JSON option; `--silent` quiets its banner but not its warnings and errors. Every line in `logs/` is ECS JSON, so
the broker's output goes through this relay: it reads lines from standard input until end of file (the broker's
exit closes the pipe) and appends one ECS line per input line to LOGFILE, keeping the broker's own timestamp,
level and module. A line in no known format is kept whole as the message, never dropped.

The module imports only the standard library and orjson: it starts with every broker, including the restarts
after a crash, and must be quick and small.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path
from typing import Any, BinaryIO

import orjson

_ANSI = re.compile(rb"\x1b\[[0-9;]*[A-Za-z]")
# `tracing_subscriber`'s default format: "2026-12-01T23:00:56.119685Z ERROR tansu_service::stream: 359: err=..."
_TRACING = re.compile(
    r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\s+(?P<level>TRACE|DEBUG|INFO|WARN|ERROR)\s+"
    r"(?P<target>[\w:]+):\s+(?:(?P<line>\d+):\s+)?(?P<message>.*)$"
)
_LEVELS = {"TRACE": "trace", "DEBUG": "debug", "INFO": "info", "WARN": "warning", "ERROR": "error"}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ecs_document(service: str, raw: bytes) -> dict[str, Any]:
    """The ECS document for one line of the child's output (without its newline)."""
    text = _ANSI.sub(b"", raw).decode("utf-8", "replace").rstrip()
    doc: dict[str, Any] = {"@timestamp": _now(), "log.level": "info", "message": text, "ecs.version": "1.6.0",
                           "service": {"name": service}}
    match = _TRACING.match(text)
    if match is not None:
        ts = match["ts"]
        # ECS wants milliseconds; tracing prints microseconds
        head, _, frac = ts[:-1].partition(".")
        doc["@timestamp"] = f"{head}.{(frac + '000')[:3]}Z"
        doc["log.level"] = _LEVELS[match["level"]]
        doc["log.logger"] = match["target"]
        if match["line"]:
            doc["log.origin"] = {"file": {"line": int(match["line"])}}
        doc["message"] = match["message"]
    return doc


def relay(service: str, source: BinaryIO, sink: BinaryIO) -> int:
    """Copy `source` to `sink` line by line as ECS JSON; returns the number of lines written."""
    count = 0
    for raw in source:
        line = raw.rstrip(b"\r\n")
        if not line.strip():
            continue
        sink.write(orjson.dumps(ecs_document(service, line)) + b"\n")
        sink.flush()  # a crash of the broker must leave its last words in the file
        count += 1
    return count


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        sys.stderr.write("usage: python -m turnpoint.cli.logrelay SERVICE LOGFILE\n")
        return 2
    service, path = argv
    with Path(path).open("ab") as sink:
        relay(service, sys.stdin.buffer, sink)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
