"""The embedded schedule: cron times in a time zone, one run's freshness records, the loop with a fake clock."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError
from turnpoint.cli.schedule import ScheduleConfig, ScheduledJob, Scheduler, ScheduleSettings, execute, next_run
from turnpoint.core.contracts import JobInfo

UTC = dt.UTC
MARKET = ScheduledJob(name="market-daily", cron="40 15 * * 1-5", args=["ingest", "market", "--json"])


def test_the_market_job_fires_after_the_seoul_close_on_weekdays() -> None:
    # Friday 2026-12-04 06:00 UTC = 15:00 KST: today at 15:40 KST = 06:40 UTC
    assert next_run(MARKET.cron, "Asia/Seoul", dt.datetime(2026, 12, 4, 6, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 12, 4, 6, 40, tzinfo=UTC)
    # Friday 07:00 UTC (16:00 KST, after the run) -> Monday 15:40 KST
    assert next_run(MARKET.cron, "Asia/Seoul", dt.datetime(2026, 12, 4, 7, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 12, 7, 6, 40, tzinfo=UTC)
    # Thursday 20:00 UTC is already Friday 05:00 in Seoul: the next run is Friday's, not Thursday's
    assert next_run(MARKET.cron, "Asia/Seoul", dt.datetime(2026, 12, 3, 20, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 12, 4, 6, 40, tzinfo=UTC)
    # the same cron in UTC is another instant
    assert next_run(MARKET.cron, "UTC", dt.datetime(2026, 12, 4, 6, 0, tzinfo=UTC)) == \
        dt.datetime(2026, 12, 4, 15, 40, tzinfo=UTC)


def test_wall_clock_times_follow_daylight_saving() -> None:
    # New York: 16:30 local is 21:30 UTC in winter, 20:30 UTC in summer
    cron = "30 16 * * *"
    assert next_run(cron, "America/New_York", dt.datetime(2026, 1, 5, 12, tzinfo=UTC)).hour == 21
    assert next_run(cron, "America/New_York", dt.datetime(2026, 7, 6, 12, tzinfo=UTC)).hour == 20


def test_settings_read_jobs_as_json_and_refuse_bad_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TURNPOINT_SCHEDULE__TIMEZONE", "Asia/Seoul")
    monkeypatch.setenv("TURNPOINT_SCHEDULE__JOBS",
                       '[{"name": "market-daily", "cron": "40 15 * * 1-5", "args": ["ingest", "market"]}]')
    cfg = ScheduleSettings().schedule
    assert cfg.timezone == "Asia/Seoul" and cfg.jobs[0].args == ["ingest", "market"]
    with pytest.raises(ValidationError, match="cron"):
        ScheduledJob(name="x", cron="every day", args=["x"])
    with pytest.raises(ValidationError, match="unique"):
        ScheduleConfig(jobs=[MARKET, MARKET])
    with pytest.raises(ValidationError):
        ScheduleConfig(timezone="Mars/Olympus")


def test_a_run_publishes_running_then_ok_with_the_rows() -> None:
    sent: list[JobInfo] = []
    at = dt.datetime(2026, 12, 4, 6, 40, 5, tzinfo=UTC)
    summary = '{"file": "bars.csv", "published": 42, "ok": true}'
    result = execute("market-daily", ["ingest", "market"], sent.append,
                     runner=lambda args: (0, summary + "\n", "bars.csv: 42 rows ...\n"), now=lambda: at)
    assert result.ok and result.rows == 42
    assert [i.status for i in sent] == ["running", "ok"]
    assert sent[1].job == "market-daily" and sent[1].last_success == at and sent[1].rows == 42
    assert sent[1].detail == "bars.csv: 42 rows ..."


def test_a_failed_run_publishes_error_with_the_reason_and_no_success_time() -> None:
    sent: list[JobInfo] = []
    result = execute("market-daily", ["ingest", "market"], sent.append,
                     runner=lambda args: (1, "", "Traceback...\nerror: bars.csv: no such file\n"))
    assert not result.ok
    assert [i.status for i in sent] == ["running", "error"]
    assert sent[1].last_success is None and sent[1].detail == "exit 1: error: bars.csv: no such file"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_loop_runs_each_job_once_per_due_time() -> None:
    clock = Clock(dt.datetime(2026, 12, 4, 6, 0, tzinfo=UTC))  # Friday 15:00 KST
    calls: list[list[str]] = []
    sent: list[JobInfo] = []
    nightly = ScheduledJob(name="nightly", cron="0 2 * * *", args=["db", "backup", "x"])
    sched = Scheduler(ScheduleConfig(timezone="Asia/Seoul", jobs=[MARKET, nightly]), sent.append,
                      runner=lambda args: (calls.append(args), (0, "", ""))[1], clock=clock)
    assert sched.tick() == []
    clock.now = dt.datetime(2026, 12, 4, 6, 40, tzinfo=UTC)
    assert sched.tick() == ["market-daily"]
    assert sched.tick() == []  # not twice for the same time
    clock.now = dt.datetime(2026, 12, 8, 0, 0, tzinfo=UTC)  # Tuesday 09:00 KST: several times passed
    assert sorted(sched.tick()) == ["market-daily", "nightly"]  # each once, not once per missed time
    assert sched.due["market-daily"] == dt.datetime(2026, 12, 8, 6, 40, tzinfo=UTC)
    assert len(calls) == 3 and [i.status for i in sent].count("ok") == 3
    assert sched.status()["jobs"]["market-daily"]["last"]["ok"] is True


def test_a_publish_failure_does_not_end_the_schedule() -> None:
    clock = Clock(dt.datetime(2026, 12, 4, 6, 41, tzinfo=UTC))

    def broken(_info: JobInfo) -> None:
        raise RuntimeError("broker down")

    sched = Scheduler(ScheduleConfig(jobs=[MARKET]), broken, runner=lambda a: (0, "", ""), clock=clock)
    sched.due["market-daily"] = clock.now
    assert sched.tick() == ["market-daily"]
    assert "broker down" in sched.last["market-daily"].detail and sched.due["market-daily"] > clock.now


def test_dev_up_gets_a_scheduler_entry_only_when_jobs_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from turnpoint.cli.schedule import dev_service

    monkeypatch.delenv("TURNPOINT_SCHEDULE__JOBS", raising=False)
    assert dev_service({"X": "1"}) is None
    monkeypatch.setenv("TURNPOINT_SCHEDULE__JOBS", '[{"name": "m", "cron": "40 15 * * 1-5", "args": ["ingest"]}]')
    monkeypatch.setenv("TURNPOINT_SCHEDULE__PORT", "18009")
    entry = dev_service({"X": "1"})
    assert entry is not None and entry["name"] == "schedule" and entry["port"] == 18009
    assert entry["argv"][-2:] == ["schedule", "serve"] and entry["env"]["X"] == "1"


def test_running_and_error_records_keep_the_last_success() -> None:
    """The record replaces the job's row: a failing run must not erase when the job last succeeded."""
    clock = Clock(dt.datetime(2026, 12, 4, 6, 40, tzinfo=UTC))
    before = dt.datetime(2026, 12, 3, 6, 40, 9, tzinfo=UTC)
    sent: list[JobInfo] = []
    outcomes = iter([(0, '{"published": 5}', ""), (1, "", "error: gone")])
    sched = Scheduler(ScheduleConfig(jobs=[MARKET]), sent.append, runner=lambda a: next(outcomes), clock=clock,
                      successes={"market-daily": before})
    sched.due["market-daily"] = clock.now
    sched.tick()
    assert [(i.status, i.last_success) for i in sent] == [("running", before), ("ok", clock.now)]
    first_ok = clock.now
    clock.now = dt.datetime(2026, 12, 7, 6, 40, tzinfo=UTC)
    sched.tick()
    assert [(i.status, i.last_success) for i in sent[2:]] == [("running", first_ok), ("error", first_ok)]
