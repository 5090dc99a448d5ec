"""`turnpoint schedule serve|exec|list`: the daily jobs on cron times, each publishing its freshness record.

A job is a name, a cron expression and the words of a `turnpoint` command, e.g. the legacy `-run=daily`
market job, after the Korean market closes (15:30 Asia/Seoul):

    TURNPOINT_SCHEDULE__TIMEZONE=Asia/Seoul
    TURNPOINT_SCHEDULE__JOBS='[{"name": "market-daily", "cron": "40 15 * * 1-5",
                               "args": ["ingest", "market", "--last-days", "3", "--file", "bars.csv", "--json"]}]'

Cron times are wall-clock times of the time zone (croniter; a time skipped or repeated by a daylight-saving
change happens once). Around each run the job publishes `JobInfo` to turnpoint.jobs.v1 (key: the job name):
`running`, then `ok` with the rows the command reported (`published` of a `--json` summary) or `error` with
the last line the command printed; `running` and `error` carry the time of the last good run (read back from
the compacted topic at start), so a failing job keeps its last success. `exec` does the same once (a Kubernetes CronJob's command), `serve`
loops (compose, `turnpoint dev up`) and answers /healthz on TURNPOINT_SCHEDULE__PORT.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any, cast
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, Field, field_validator

from turnpoint.core.contracts import JobInfo
from turnpoint.core.settings import TurnpointSettings

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Daily jobs on cron times, each publishing its freshness record (turnpoint.jobs.v1).")

DETAIL_MAX = 500


class ScheduledJob(BaseModel):
    """One job: `turnpoint <args...>` at the times of `cron` (5 fields) in the schedule's time zone."""

    name: str = Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:-]+$")
    cron: str
    args: list[str] = Field(min_length=1)

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if len(value.split()) != 5 or not croniter.is_valid(value):
            msg = f"invalid cron expression {value!r}; write 5 fields: minute hour day month weekday"
            raise ValueError(msg)
        return value


class ScheduleConfig(BaseModel):
    """The jobs of `turnpoint schedule serve` (and of `turnpoint dev up` when any are set)."""

    timezone: str = Field(default="Asia/Seoul", description="IANA time zone of the cron times")
    jobs: list[ScheduledJob] = Field(default_factory=list, description="JSON list of {name, cron, args}")
    port: int = Field(default=8009, ge=0, le=65535, description="/healthz of `schedule serve`")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError):
            msg = f"unknown time zone {value!r}; use an IANA name such as Asia/Seoul"
            raise ValueError(msg) from None
        return value

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[ScheduledJob]) -> list[ScheduledJob]:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            msg = f"job names must be unique: {names}"
            raise ValueError(msg)
        return jobs


class ScheduleSettings(TurnpointSettings):
    service_name: str = "turnpoint-schedule"
    schedule: ScheduleConfig = ScheduleConfig()


def next_run(cron: str, zone: str, after: dt.datetime) -> dt.datetime:
    """The first time of `cron` (wall clock in `zone`) strictly after `after`, as an aware UTC datetime."""
    from croniter import croniter

    local = after.astimezone(ZoneInfo(zone))
    fire: dt.datetime = croniter(cron, local).get_next(dt.datetime)
    return fire.astimezone(dt.UTC)


# ----------------------------------------------------------------------------- one run


@dataclass(frozen=True, slots=True)
class RunResult:
    ok: bool
    rows: int
    detail: str
    at: dt.datetime | None = None  # when a successful run ended


Publish = Callable[[JobInfo], None]
Runner = Callable[[list[str]], tuple[int, str, str]]


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """`turnpoint <args>` in a child process: (exit code, stdout, stderr)."""
    import os

    # wide, so that an error in a rich panel (typer's usage errors) stays on one line for the detail
    env = {**os.environ, "COLUMNS": "400", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "turnpoint.cli.main", *args], capture_output=True, text=True,
                          check=False, env=env)
    return done.returncode, done.stdout, done.stderr


def _rows(stdout: str) -> int:
    """`published` of the last JSON summary line (ingest commands with --json), else 0."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("published"), int):
            return int(data["published"])
    return 0


def _last_line(text: str) -> str:
    """The last line that says something (frames of rich panels removed)."""
    lines = [line.strip().strip("│╭╮╰╯─ ") for line in text.splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:DETAIL_MAX] if lines else ""


def execute(name: str, args: list[str], publish: Publish, runner: Runner = run_cli,
            now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
            last_success: dt.datetime | None = None) -> RunResult:
    """Run one job and publish its freshness: `running` first, then `ok` (rows, time) or `error` (why).

    `running` and `error` records carry the previous `last_success`, so the job's row keeps the time of
    its last good run (the record replaces the row: it must not forget it).
    """
    command = "turnpoint " + " ".join(args)
    publish(JobInfo(job=name, status="running", last_success=last_success, detail=f"started {command}"))
    try:
        code, out, err = runner(args)
    except OSError as exc:
        code, out, err = 127, "", f"{command} could not start: {exc}"
    if code == 0:
        result = RunResult(True, _rows(out), _last_line(err) or _last_line(out) or "done", now())
        publish(JobInfo(job=name, status="ok", last_success=result.at, rows=result.rows, detail=result.detail))
    else:
        result = RunResult(False, 0, f"exit {code}: {_last_line(err) or _last_line(out) or command}")
        publish(JobInfo(job=name, status="error", last_success=last_success, detail=result.detail))
    return result


def previous_successes(settings: TurnpointSettings, timeout: float = 15.0) -> dict[str, dt.datetime]:
    """The latest `last_success` of every job on the (compacted) jobs topic, read from the beginning."""
    import uuid

    import orjson
    from confluent_kafka import TopicPartition

    from turnpoint.core import topics
    from turnpoint.core.kafka import end_offsets, make_consumer

    topic = topics.JOBS.full_name(settings.kafka.topic_prefix)
    consumer = make_consumer(settings.kafka, f"turnpoint-schedule-read-{uuid.uuid4().hex[:8]}",
                             **{"enable.auto.commit": False})
    found: dict[str, dt.datetime] = {}
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics[topic]
        parts = [TopicPartition(topic, p) for p in meta.partitions]
        ends = end_offsets(consumer, parts, timeout)
        todo = {(t, p): end for (t, p), end in ends.items() if end > 0}
        if not todo:
            return found
        consumer.assign([TopicPartition(t, p, 0) for t, p in todo])  # from the start of each partition
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            for msg in consumer.consume(500, 0.5):
                if msg.error() is not None:
                    continue
                # a consumed message without error always has its topic and partition (the stubs say Optional)
                where = cast("tuple[str, int]", (msg.topic(), msg.partition()))
                offset = msg.offset()
                if offset is not None and offset + 1 >= todo.get(where, 0):
                    todo.pop(where, None)
                try:
                    items = orjson.loads(msg.value() or b"{}").get("items", [])
                except orjson.JSONDecodeError:
                    continue
                for item in items:
                    when = item.get("last_success") if isinstance(item, dict) else None
                    if when:
                        at = dt.datetime.fromisoformat(when)
                        if item["job"] not in found or at > found[item["job"]]:
                            found[item["job"]] = at
    finally:
        consumer.close()
    return found


class KafkaPublisher:
    """Publishes JobInfo records to turnpoint.jobs.v1 and waits for each to be acknowledged."""

    def __init__(self, settings: TurnpointSettings) -> None:
        from turnpoint.core import topics
        from turnpoint.core.kafka import make_producer

        self._topic = topics.JOBS.full_name(settings.kafka.topic_prefix)
        self._producer = make_producer(settings.kafka)

    def __call__(self, info: JobInfo) -> None:
        from turnpoint.core.produce import Deliveries, envelopes, produce

        deliveries = Deliveries()
        for value in envelopes([info]):
            produce(self._producer, self._topic, value, info.job, on_delivery=deliveries)
        left = self._producer.flush(30)
        failed, why = deliveries.take()
        if left or failed:
            msg = f"freshness record of {info.job} not acknowledged by Kafka: {why or 'timeout'}"
            raise RuntimeError(msg)


# ----------------------------------------------------------------------------- the loop


class Scheduler:
    """Runs due jobs one after another in a thread; `stop()` ends it between runs."""

    def __init__(self, config: ScheduleConfig, publish: Publish, runner: Runner = run_cli,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
                 successes: dict[str, dt.datetime] | None = None) -> None:
        self.config = config
        self.publish = publish
        self.runner = runner
        self.clock = clock
        self.stopping = threading.Event()
        self.last: dict[str, RunResult] = {}
        self.successes = dict(successes or {})  # job -> its last good run (carried by running/error records)
        start = clock()
        self.due = {j.name: next_run(j.cron, config.timezone, start) for j in config.jobs}
        self._thread: threading.Thread | None = None

    def tick(self) -> list[str]:
        """Run every job whose time has come (once, even if several times passed); returns their names."""
        ran = []
        for job in self.config.jobs:
            if self.clock() >= self.due[job.name]:
                try:
                    result = execute(job.name, job.args, self.publish, self.runner, self.clock,
                                     self.successes.get(job.name))
                except Exception as exc:  # a publish failure must not end the schedule
                    result = RunResult(False, 0, f"{type(exc).__name__}: {exc}")
                self.last[job.name] = result
                if result.at is not None:
                    self.successes[job.name] = result.at
                self.due[job.name] = next_run(job.cron, self.config.timezone, self.clock())
                ran.append(job.name)
        return ran

    def run(self) -> None:
        while not self.stopping.is_set():
            self.tick()
            wake = min(self.due.values(), default=self.clock() + dt.timedelta(hours=1))
            self.stopping.wait(max(0.5, min(60.0, (wake - self.clock()).total_seconds())))

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="turnpoint-schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def status(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "timezone": self.config.timezone,
            "jobs": {j.name: {"next": self.due[j.name].isoformat(),
                              "last": None if j.name not in self.last else
                              {"ok": self.last[j.name].ok, "detail": self.last[j.name].detail}}
                     for j in self.config.jobs},
        }


def _health_server(scheduler: Scheduler, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in ("/healthz", "/readyz"):
                self.send_error(404)
                return
            body = json.dumps(scheduler.status()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="turnpoint-schedule-http", daemon=True).start()
    return server


def dev_service(env: dict[str, str]) -> dict[str, Any] | None:
    """The supervisor entry of `turnpoint dev up` for the scheduler, when TURNPOINT_SCHEDULE__JOBS names jobs."""
    import os
    from pathlib import Path

    settings = _settings()
    if not settings.schedule.jobs:
        return None
    port = settings.schedule.port
    return {"name": "schedule", "argv": [sys.executable, "-m", "turnpoint.cli.main", "schedule", "serve"],
            "env": {**env, "TURNPOINT_SCHEDULE__PORT": str(port)}, "port": port, "cwd": str(Path(os.getcwd()))}


# ----------------------------------------------------------------------------- commands


def _settings() -> ScheduleSettings:
    try:
        return ScheduleSettings()
    except ValueError as exc:
        typer.echo(f"error: invalid schedule settings: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("list")
def list_cmd() -> None:
    """The configured jobs with their next run (UTC and the schedule's time zone)."""
    cfg = _settings().schedule
    now = dt.datetime.now(dt.UTC)
    if not cfg.jobs:
        typer.echo("no jobs: set TURNPOINT_SCHEDULE__JOBS", err=True)
    for job in cfg.jobs:
        fire = next_run(job.cron, cfg.timezone, now)
        local = fire.astimezone(ZoneInfo(cfg.timezone))
        typer.echo(f"{job.name}\t{job.cron}\t{local.isoformat()}\t{fire.isoformat()}\tturnpoint {' '.join(job.args)}")


@app.command("exec", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def exec_cmd(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The job's name (the key of its freshness record).")],
) -> None:
    """Run `turnpoint ARGS...` once as job NAME, publishing its freshness record; exits with its status."""
    args = list(ctx.args)
    if not args:
        typer.echo("error: give the command to run, e.g. `schedule exec market-daily ingest market --file F`",
                   err=True)
        raise typer.Exit(2)
    settings = _settings()
    result = execute(name, args, KafkaPublisher(settings), last_success=previous_successes(settings).get(name))
    typer.echo(f"{name}: {'ok' if result.ok else 'error'}: {result.detail}", err=True)
    raise typer.Exit(0 if result.ok else 1)


@app.command("serve")
def serve_cmd() -> None:
    """Run the configured jobs on their cron times until SIGTERM; /healthz on TURNPOINT_SCHEDULE__PORT."""
    import signal

    from turnpoint.core.observability import configure_logging

    settings = _settings()
    configure_logging("schedule", settings.log_level, settings.log_format)
    scheduler = Scheduler(settings.schedule, KafkaPublisher(settings), successes=previous_successes(settings))
    server = _health_server(scheduler, settings.host, settings.schedule.port)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    scheduler.start()
    try:
        while not done.is_set():
            done.wait(1.0)
    finally:
        scheduler.stop()
        server.shutdown()
