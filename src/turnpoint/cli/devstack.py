"""`turnpoint dev up | down | status | wait-idle | topics`: the embedded stack on one machine.

`up` starts a Tansu broker and PostgreSQL 16 (unless `TURNPOINT_KAFKA__BOOTSTRAP_SERVERS` /
`TURNPOINT_DATABASE_URL` / `DATABASE_URL` name existing ones), creates topics and tables, then starts
every installed service under a supervisor that restarts them. Everything lives under one folder
(`TURNPOINT_HOME`, default `./.turnpoint`): data, logs and `stack.json`, which later commands read.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from turnpoint.cli import embedded
from turnpoint.core import topics
from turnpoint.core.settings import KafkaSettings, TurnpointSettings

app = typer.Typer(no_args_is_help=True, help="The embedded stack: broker, database and every service.")
console = Console(stderr=True)

DEFAULT_KAFKA_PORT = 9092
DEFAULT_PG_PORT = 5433


@dataclass
class ServiceSpec:
    name: str
    command: list[str]
    port: int

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "turnpoint.cli.main", *self.command]


# service, the CLI words that run it, and the CLI module that must exist for it to be started
SERVICES: tuple[tuple[str, list[str], str], ...] = (
    ("transform", ["transform", "worker"], "turnpoint.transform.cli"),
    ("loader", ["loader", "run"], "turnpoint.loader.cli"),
    ("api", ["api", "serve"], "turnpoint.api.cli"),
    ("ingest", ["ingest", "run"], "turnpoint.ingest.cli"),
    ("model", ["model", "run"], "turnpoint.model.cli"),
    ("alerts", ["alerts", "run"], "turnpoint.alerts.cli"),
)


def home_dir() -> Path:
    return Path(os.environ.get("TURNPOINT_HOME", ".turnpoint")).resolve()


def _has_command(module: str, words: list[str]) -> bool:
    """Is the service installed and does its CLI offer the command that runs it?"""
    if importlib.util.find_spec(module) is None:
        return False
    import typer.main

    sub = importlib.import_module(module).app
    group = typer.main.get_group(sub)
    return words[-1] in group.commands


@dataclass
class Stack:
    home: Path
    bootstrap: str
    database_url: str
    broker_pid: int | None = None
    pgdata: str | None = None
    services: list[dict[str, Any]] = field(default_factory=list)

    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.__dict__, default=str, indent=2))

    @classmethod
    def load(cls, home: Path) -> Stack | None:
        try:
            data = json.loads((home / "stack.json").read_text())
        except FileNotFoundError:
            return None
        data["home"] = Path(data["home"])
        return cls(**data)

    def supervisor(self) -> dict[str, Any]:
        try:
            return dict(json.loads((self.home / "services.json").read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            return {}


def service_env(stack: Stack, base: TurnpointSettings) -> dict[str, str]:
    """Environment every service process gets: where the broker and database are, and its folders."""
    h = stack.home
    return {
        "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": stack.bootstrap,
        "TURNPOINT_DATABASE_URL": stack.database_url,
        "TURNPOINT_TZ": base.tz,
        "TURNPOINT_ENVIRONMENT": base.environment,
        "TURNPOINT_TRANSFORM__DATA_DIR": str(h / "transform"),
        "TURNPOINT_MODEL__REGISTRY_DIR": os.environ.get("TURNPOINT_MODEL__REGISTRY_DIR", str(h / "models")),
        "TURNPOINT_MODEL__LOG_DIR": str(h / "logs" / "inference"),
        # models out of the box: the model service trains the demo models before it answers ready
        "TURNPOINT_MODEL__DEMO_MODELS": os.environ.get("TURNPOINT_MODEL__DEMO_MODELS", "true"),
        "TURNPOINT_INGEST__DROP_DIR": os.environ.get("TURNPOINT_INGEST__DROP_DIR", str(h / "drop")),
        "TURNPOINT_INGEST__SPOOL_DIR": str(h / "spool"),
        "TURNPOINT_ALERTS__RULES_FILE": alerts_rules_file(h),
        "PYTHONUNBUFFERED": "1",
        # an embedded broker forgets everything when it stops: keep what the ingest accepted until loaded
        **({"TURNPOINT_INGEST__JOURNAL": "true"} if stack.broker_pid is not None else {}),
    }


def alerts_rules_file(home: Path) -> str:
    """TURNPOINT_ALERTS__RULES_FILE, or a copy of the sample rules in the stack's folder."""
    named = os.environ.get("TURNPOINT_ALERTS__RULES_FILE")
    if named:
        return str(Path(named).resolve())
    target = home / "alerts.yaml"
    sample = importlib.util.find_spec("turnpoint.alerts")
    if not target.exists() and sample is not None and sample.origin:
        shutil.copyfile(Path(sample.origin).with_name("sample_rules.yaml"), target)
    return str(target)


def _check_alert_rules(path: str) -> None:
    """`dev up` refuses a broken rules file, naming its line (the service would keep no rules)."""
    if importlib.util.find_spec("turnpoint.alerts") is None or not Path(path).exists():
        return
    from turnpoint.core.alerts.rules import RulesError, load_rules

    try:
        load_rules(path)
    except RulesError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


def _check_supervisor_settings() -> None:
    """`dev up` refuses a broken TURNPOINT_BROKER__* setting (the supervisor would not start)."""
    from turnpoint.cli.recycle import SupervisorSettings

    try:
        SupervisorSettings()
    except ValueError as exc:
        console.print(f"[red]invalid supervisor settings: {exc}[/]")
        raise typer.Exit(2) from None


def save_dead_letters(stack: Stack) -> None:
    """Keep the embedded broker's dead letters under `<home>/dead-letters` before it stops (best effort)."""
    from turnpoint.cli.recycle import save_dead_letters as save

    kafka = TurnpointSettings().kafka.model_copy(update={"bootstrap_servers": stack.bootstrap})
    try:
        saved = save(kafka, stack.home / "dead-letters", str(stack.broker_pid))
    except Exception as exc:
        console.print(f"[yellow]dead letters not saved[/] ({type(exc).__name__}: {exc})")
        return
    if saved:
        console.print(f"saved {sum(saved.values())} dead letters under {stack.home / 'dead-letters'}")


def journal_dir(stack: Stack) -> Path:
    return stack.home / "spool" / "journal"


def up(ports: dict[str, int] | None = None, wait: float = 120.0, quiet: bool = False) -> Stack:
    """Start (or find running) the embedded stack; return it once every service reports healthy."""
    t0 = time.monotonic()
    home = home_dir()
    existing = Stack.load(home)
    if existing is not None and embedded.pid_alive(existing.supervisor().get("supervisor")):
        if not quiet:
            console.print(f"[green]stack already running[/] ({home})")
        return existing
    home.mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    base = TurnpointSettings()
    _check_supervisor_settings()
    from_env = {n: int(os.environ[f"TURNPOINT_{n.upper()}__PORT"]) for n in topics.PORTS
                if os.environ.get(f"TURNPOINT_{n.upper()}__PORT")}
    ports = {**topics.PORTS, **from_env, **(ports or {})}

    env_kafka = os.environ.get("TURNPOINT_KAFKA__BOOTSTRAP_SERVERS")
    if env_kafka:
        bootstrap, broker_pid = env_kafka, None
        embedded.wait_for_broker(bootstrap, 30)
    else:
        port = DEFAULT_KAFKA_PORT if not embedded.port_open("127.0.0.1", DEFAULT_KAFKA_PORT) else embedded.free_port()
        try:
            broker = embedded.start_broker(port, home / "logs" / "broker.log")
        except embedded.PortTaken:  # as for PostgreSQL below: never share another stack's broker
            broker = embedded.start_broker(embedded.free_port(), home / "logs" / "broker.log")
        bootstrap, broker_pid = broker.bootstrap, broker.pid

    env_db = os.environ.get("TURNPOINT_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if env_db:
        database_url, pgdata = env_db, None
    else:
        pgdir = home / "pg"
        pg_port = DEFAULT_PG_PORT
        if (pgdir / "postmaster.pid").exists() and embedded.pid_alive(embedded._postmaster_pid(pgdir)):
            pg_port = int((pgdir / "postmaster.pid").read_text().splitlines()[3])
        elif embedded.port_open("127.0.0.1", pg_port):
            pg_port = embedded.free_port()
        try:
            pg = embedded.start_postgres(pgdir, pg_port)
        except embedded.PortTaken:  # another stack started on the port between our check and our start
            pg = embedded.start_postgres(pgdir, embedded.free_port())
        database_url, pgdata = pg.url, str(pg.pgdata)

    stack = Stack(home=home, bootstrap=bootstrap, database_url=database_url, broker_pid=broker_pid, pgdata=pgdata)
    # the configured partitions and prefix (TURNPOINT_KAFKA__*), the embedded broker's address
    kafka = base.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    from turnpoint.core.kafka import ensure_topics

    ensure_topics(kafka)
    env = service_env(stack, base)
    _check_alert_rules(env["TURNPOINT_ALERTS__RULES_FILE"])
    if _has_command("turnpoint.loader.cli", ["migrate"]):
        _run_cli(["loader", "migrate"], env, home / "logs" / "migrate.log")
    if broker_pid is not None:  # a new embedded broker is empty: bring back what PostgreSQL and the journal hold
        restore_broker(stack, quiet)
    for name, words, module in SERVICES:
        if _has_command(module, words):
            spec = ServiceSpec(name, words, ports[name])
            senv = {**env, f"TURNPOINT_{name.upper()}__PORT": str(spec.port)}
            stack.services.append({"name": name, "argv": spec.argv(), "env": senv, "port": spec.port,
                                   "cwd": str(Path.cwd())})
    from turnpoint.cli.schedule import dev_service  # the daily jobs of TURNPOINT_SCHEDULE__JOBS, if any

    if (scheduler := dev_service(env)) is not None:
        stack.services.append(scheduler)
    stack.save()
    with (home / "logs" / "supervisor.log").open("ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "turnpoint.cli.supervisor", str(home)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
    wait_healthy(stack, wait)
    if not quiet:
        console.print(f"[green]stack healthy[/] in {time.monotonic() - t0:.1f}s")
        print_status(stack)
    return stack


def restore_broker(stack: Stack, quiet: bool = False) -> None:
    """Re-publish PostgreSQL's history and the ingest journal onto the (empty) broker, with progress."""
    from turnpoint.cli.restore import restore

    restored = restore(stack.bootstrap, stack.database_url, journal_dir(stack), None if quiet else console)
    if not quiet:
        console.print(f"[green]broker restored[/]: {restored.line()} ({restored.seconds:.1f}s)")


def _run_cli(words: list[str], env: dict[str, str], log_path: Path) -> None:
    """Run a CLI step of `dev up`; its output lands in `log_path` as ECS lines like every other log."""
    from turnpoint.core.observability import ecs_line

    done = subprocess.run(
        [sys.executable, "-m", "turnpoint.cli.main", *words], env={**os.environ, **env}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, check=False,
    )
    with log_path.open("ab") as log:
        for line in done.stdout.decode(errors="replace").splitlines():
            if line.strip():
                log.write(ecs_line(f"turnpoint-{words[0]}", line, "info" if done.returncode == 0 else "error",
                                   **{"process.args": words}))
    if done.returncode != 0:
        console.print(f"[red]`turnpoint {' '.join(words)}` failed[/]; see {log_path}")
        raise typer.Exit(1)


def health(service: dict[str, Any], timeout: float = 3.0, page: str = "/healthz") -> tuple[bool, str]:
    """Liveness (`/healthz`: the process answers), or readiness with `page="/readyz"` (its dependencies answer)."""
    url = f"http://127.0.0.1:{service['port']}{page}"
    try:
        r = httpx.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    return r.status_code == 200, f"{r.status_code}"


def wait_healthy(stack: Stack, timeout: float) -> None:
    """Wait until every service is ready (`/readyz`): `dev up --wait` returns when the stack can take data."""
    deadline = time.monotonic() + timeout
    pending = {s["name"]: s for s in stack.services}
    while pending and time.monotonic() < deadline:
        for name, svc in list(pending.items()):
            if health(svc, page="/readyz")[0]:
                del pending[name]
        time.sleep(0.3)
    if pending:
        names = ", ".join(sorted(pending))
        console.print(f"[red]not healthy after {timeout:.0f}s: {names}[/]; logs in {stack.home / 'logs'}")
        raise typer.Exit(1)


def print_status(stack: Stack) -> bool:
    """Print the stack's table; True when every component is up."""
    from turnpoint.cli.devstatus import status_rows

    rows = status_rows(stack, health)
    table = Table(title=f"turnpoint dev stack ({stack.home})")
    for col in ("component", "pid", "address", "health"):
        table.add_column(col)
    for r in rows:
        pid = str(r["pid"] or ("external" if r["name"] in ("broker", "postgres") else "-"))
        restarts = f", {r['restarts']} restarts" if r.get("restarts") else ""
        if r.get("rss_mb") is not None:  # the embedded broker: its memory against the recycle limit
            restarts += f", {r['rss_mb']:.0f} MiB, {r.get('recycles', 0)} recycles"
        table.add_row(r["name"], pid, r["address"], r["health"] + restarts)
    Console().print(table)
    return all(r["ok"] for r in rows)


def down(purge: bool = False, drain: float = 60.0) -> None:
    home = home_dir()
    stack = Stack.load(home)
    if stack is None:
        console.print("no stack state found; nothing to stop")
        return
    if drain > 0 and not purge and embedded.pid_alive(stack.supervisor().get("supervisor")):
        drain_stack(stack, drain)
    embedded.stop_pid(stack.supervisor().get("supervisor"), timeout=30)
    stack = Stack.load(home) or stack  # the supervisor may have replaced the broker meanwhile
    if not purge and embedded.pid_alive(stack.broker_pid):
        save_dead_letters(stack)
    for svc in stack.supervisor().get("services", []):
        embedded.stop_pid(svc.get("pid"), timeout=5)
    embedded.stop_pid(stack.broker_pid)
    if stack.pgdata:
        embedded.stop_postgres(Path(stack.pgdata))
    stack.state_file.unlink(missing_ok=True)
    if purge:
        shutil.rmtree(home, ignore_errors=True)
    console.print("[green]stack stopped[/]")


def drain_stack(stack: Stack, timeout: float) -> None:
    """Let every consumer group catch up before stopping, so that PostgreSQL holds all accepted input.

    Best effort: what is still in flight after `timeout` stays in the ingest journal and is re-sent by the
    next `dev up`.
    """
    try:
        wait_idle(stack, timeout)
    except (typer.Exit, Exception) as exc:  # a dead service or broker: stop anyway
        console.print(f"[yellow]not drained[/] ({type(exc).__name__}); the next `dev up` re-sends from the journal")


def lags(stack: Stack) -> dict[str, int]:
    from turnpoint.core.kafka import group_lag

    kafka = KafkaSettings(bootstrap_servers=stack.bootstrap)
    running = {s["name"] for s in stack.services}
    out: dict[str, int] = {}
    for group in topics.GROUPS:
        service = group.group_id.removeprefix("turnpoint-").split("-")[0]  # turnpoint-alerts-notifier: alerts
        if service in running:
            out[group.group_id] = group_lag(kafka, group.group_id, [t.name for t in group.inputs])
    return out


def wait_idle(stack: Stack, timeout: float = 600.0, settle: float = 1.0) -> dict[str, int]:
    """Return when every consumer group has committed everything (twice in a row), else raise Exit(1).

    The loader commits offsets only after its database transaction, so zero lag there means flushed. The
    ingest counts too: while its publishing is held (a broker recycle) or its spool holds records, it is busy.
    """
    deadline = time.monotonic() + timeout
    quiet_rounds = 0
    current: dict[str, int] = {}
    while time.monotonic() < deadline:
        current = lags(stack)
        spool = stack.home / "spool"
        if (spool / "hold").exists() or any(spool.glob("*.jsonl")):
            current["ingest-spool"] = len(list(spool.glob("*.jsonl"))) or 1
        quiet_rounds = quiet_rounds + 1 if all(v == 0 for v in current.values()) else 0
        if quiet_rounds >= 2:
            return current
        time.sleep(settle)
    console.print(f"[red]still busy after {timeout:.0f}s[/]: {current}")
    raise typer.Exit(1)


def export_stack_env() -> None:
    """Point this process at the running embedded stack (broker, database) where the environment is silent.

    `turnpoint ingest market --file ...` after `turnpoint dev up` then reaches the stack's broker even
    when it had to take another port than 9092.
    """
    stack = Stack.load(home_dir())
    if stack is None or not embedded.pid_alive(stack.supervisor().get("supervisor")):
        return
    os.environ.setdefault("TURNPOINT_KAFKA__BOOTSTRAP_SERVERS", stack.bootstrap)
    if not (os.environ.get("TURNPOINT_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        os.environ["TURNPOINT_DATABASE_URL"] = stack.database_url


def require_stack() -> Stack:
    stack = Stack.load(home_dir())
    if stack is None:
        console.print(f"[red]no stack running[/] under {home_dir()}; start it with `turnpoint dev up`")
        raise typer.Exit(1)
    return stack


@app.command("up")
def up_cmd(
    api_port: int = typer.Option(None, help="Port of the read API (default 8000, or TURNPOINT_API__PORT)."),
    wait: float = typer.Option(120.0, help="Seconds to wait for every service to report healthy."),
) -> None:
    """Start the broker, the database and every service in the background (safe to run twice).

    Service ports come from TURNPOINT_<SERVICE>__PORT when set; the broker and PostgreSQL take 9092 and
    5433, or free ports when those are taken.
    """
    up({"api": api_port} if api_port else None, wait=wait)


@app.command("down")
def down_cmd(
    purge: bool = typer.Option(False, help="Also delete the data folder."),
    drain: float = typer.Option(60.0, help="Seconds to let the pipeline catch up before stopping (0: don't)."),
) -> None:
    """Let the pipeline catch up, then stop every service, the broker and the database."""
    down(purge, drain)


@app.command("status")
def status_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON document (components with ok, health)."),
) -> None:
    """Show each process, its address and health; exit 1 when anything is not up."""
    stack = require_stack()
    if as_json:
        from turnpoint.cli.devstatus import status_rows

        rows = status_rows(stack, health)
        ok = all(r["ok"] for r in rows)
        sys.stdout.write(json.dumps({"home": str(stack.home), "ok": ok, "components": rows}, indent=2) + "\n")
    else:
        ok = print_status(stack)
    if not ok:
        raise typer.Exit(1)


@app.command("logs")
def logs_cmd(
    service: str = typer.Argument(None, help="One service (api, transform, broker, ...); default every log."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
    lines: int = typer.Option(20, "--lines", "-n", min=0, help="Lines to show from the end of each log first."),
) -> None:
    """Show the stack's logs (ECS JSON lines under $TURNPOINT_HOME/logs), prefixed with their file when several."""
    from turnpoint.cli.devstatus import follow as follow_lines
    from turnpoint.cli.devstatus import log_files, tail

    try:
        files = log_files(home_dir(), service)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if not files:
        console.print(f"no logs under {home_dir() / 'logs'} yet; start the stack with `turnpoint dev up`")
        raise typer.Exit(1)
    prefix = len(files) > 1
    for f in files:
        for line in tail(f, lines):
            sys.stdout.write((f"{f.stem} | " if prefix else "") + line + "\n")
    sys.stdout.flush()
    if follow:
        try:
            for f, line in follow_lines(files):
                sys.stdout.write((f"{f.stem} | " if prefix else "") + line + "\n")
                sys.stdout.flush()
        except KeyboardInterrupt:
            pass


@app.command("wait-idle")
def wait_idle_cmd(timeout: float = typer.Option(600.0, help="Give up after this many seconds (exit 1).")) -> None:
    """Return when every consumer group has no lag and the loader has flushed."""
    t0 = time.monotonic()
    wait_idle(require_stack(), timeout)
    console.print(f"idle after {time.monotonic() - t0:.1f}s")


@app.command("topics")
def topics_cmd(
    bootstrap: str = typer.Option(None, help="Bootstrap servers (default: the settings)."),
) -> None:
    """Create every topic of the catalogue that does not exist yet (also the compose/k8s init job)."""
    from turnpoint.core.kafka import ensure_topics

    settings = TurnpointSettings()
    kafka = settings.kafka.model_copy(update={"bootstrap_servers": bootstrap}) if bootstrap else settings.kafka
    created = ensure_topics(kafka)
    console.print(f"created {len(created)} topics" + (f": {', '.join(created)}" if created else ""))
