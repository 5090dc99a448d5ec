"""`turnpoint dev status` and `turnpoint dev logs`: what the embedded stack is doing, for people and scripts.

:func:`status_rows` is the one health check of the stack (the broker's and PostgreSQL's processes, each
service's ``/healthz``); `dev status` prints it as a table or, with ``--json``, as one JSON document, and
exits 1 when anything is not up, so scripts and CI can wait on it. :func:`log_files` and :func:`follow`
read the ECS log lines under ``$TURNPOINT_HOME/logs``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnpoint.cli.devstack import Stack


def status_rows(stack: Stack, health: Callable[[dict[str, Any]], tuple[bool, str]]) -> list[dict[str, Any]]:
    """One row per component: ``name, pid, address, ok, health`` (and ``restarts``, ``peak_rss_mb`` for services;
    ``rss_mb``, ``peak_rss_mb``, ``max_rss_mb``, ``recycles``, ``restarts`` for the embedded broker)."""
    from turnpoint.cli import embedded

    rows: list[dict[str, Any]] = []
    sup_doc = stack.supervisor()
    broker_pid = stack.broker_pid  # stack.json: the supervisor writes a restarted broker's pid there
    broker_up = broker_pid is None or embedded.pid_alive(broker_pid)
    broker = {"name": "broker", "pid": broker_pid, "address": stack.bootstrap, "ok": broker_up,
              "health": "up" if broker_up else "down"}
    if broker_pid is not None:  # the embedded broker's memory, as the supervisor last measured it
        broker |= {"rss_mb": sup_doc.get("broker_rss_mb"), "peak_rss_mb": sup_doc.get("broker_peak_rss_mb"),
                   "max_rss_mb": sup_doc.get("broker_max_rss_mb"), "recycles": int(sup_doc.get("broker_recycles") or 0),
                   "restarts": int(sup_doc.get("broker_restarts") or 0)}
    rows.append(broker)
    pg_pid = embedded._postmaster_pid(Path(stack.pgdata)) if stack.pgdata else None
    pg_up = stack.pgdata is None or embedded.pid_alive(pg_pid)
    rows.append({"name": "postgres", "pid": pg_pid, "address": stack.database_url, "ok": pg_up,
                 "health": "up" if pg_up else "down"})
    sup = {s["name"]: s for s in sup_doc.get("services", [])}
    for svc in stack.services:
        ok, detail = health(svc)
        info = sup.get(svc["name"], {})
        rows.append({"name": svc["name"], "pid": info.get("pid"), "address": f"http://127.0.0.1:{svc['port']}",
                     "ok": ok, "health": "healthy" if ok else f"unhealthy ({detail})",
                     "restarts": int(info.get("restarts") or 0), "peak_rss_mb": info.get("peak_rss_mb")})
    return rows


def log_files(home: Path, service: str | None = None) -> list[Path]:
    """The log files of the stack (every one, or the one of ``service``); ValueError names the known ones."""
    logs = home / "logs"
    files = sorted(p for p in logs.glob("*.log") if p.is_file()) if logs.is_dir() else []
    if service is None:
        return files
    chosen = [p for p in files if p.stem == service]
    if not chosen:
        known = ", ".join(p.stem for p in files) or "none yet"
        msg = f"no log of {service!r} under {logs} (known: {known})"
        raise ValueError(msg)
    return chosen


def tail(path: Path, lines: int) -> list[str]:
    """The last ``lines`` lines of a file (read from its end, so big logs cost little)."""
    if lines <= 0:
        return []
    with path.open("rb") as f:
        f.seek(0, 2)
        end = f.tell()
        size = min(end, 8192)
        while True:
            f.seek(end - size)
            data = f.read(size)
            if data.count(b"\n") > lines or size == end:
                break
            size = min(end, size * 4)
    text = data.decode(errors="replace").splitlines()
    return text[-lines:]


def follow(paths: list[Path], poll: float = 0.25, stop: Callable[[], bool] = lambda: False) -> Iterator[tuple[Path, str]]:
    """New lines appended to ``paths`` from now on (this call, not the first ``next``), as ``(path, line)``,
    until ``stop()`` (or Ctrl-C)."""
    offsets = {p: p.stat().st_size for p in paths}
    return _follow(paths, offsets, poll, stop)


def _follow(paths: list[Path], offsets: dict[Path, int], poll: float,
            stop: Callable[[], bool]) -> Iterator[tuple[Path, str]]:
    partial = dict.fromkeys(paths, b"")
    while not stop():
        quiet = True
        for p in paths:
            try:
                size = p.stat().st_size
            except FileNotFoundError:
                continue
            if size < offsets[p]:  # truncated or replaced: start over
                offsets[p] = 0
            if size == offsets[p]:
                continue
            with p.open("rb") as f:
                f.seek(offsets[p])
                data = partial[p] + f.read(size - offsets[p])
            offsets[p] = size
            *done, partial[p] = data.split(b"\n")
            for line in done:
                quiet = False
                yield p, line.decode(errors="replace")
        if quiet:
            time.sleep(poll)
