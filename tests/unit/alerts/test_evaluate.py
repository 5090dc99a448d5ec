"""Every rule kind against hand-made events (SPEC §6), with ids, `at`, resolutions and cooldowns."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from turnpoint.core.alerts.delivery import backoff_s, body, in_cooldown
from turnpoint.core.alerts.evaluate import (
    DeadLetterCounter,
    StaleTracker,
    anomaly_alerts,
    drop_alerts,
    leg_alerts,
    outlier_alerts,
)
from turnpoint.core.alerts.rules import Rule
from turnpoint.core.contracts import DeadLetter, JobInfo, Leg, Outlier, Prediction, ReboundState

pytestmark = pytest.mark.unit
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
HOOK = "http://127.0.0.1:9/hook"


def rule(kind: str, **kw: object) -> Rule:
    return Rule.model_validate({"name": kw.pop("name", kind), "kind": kind, "webhook": HOOK, **kw})


def outlier(series: str = "plant0/people", value: float = 42.0, direction: str = "high", ts: dt.datetime = T0) -> Outlier:
    return Outlier(series=series, ts=ts, value=value, mean=20.1, std=3.2, direction=direction, k=1.5,  # type: ignore[arg-type]
                   window_days=28)


def state(pct: float, direction: str = "down", pivot: dt.date = dt.date(2025, 1, 10),
          last: dt.date = dt.date(2025, 1, 20), gtype: str = "close") -> ReboundState:
    return ReboundState(symbol="005930.KS", gtype=gtype, threshold=0.05, direction=direction,  # type: ignore[arg-type]
                        pivot_date=pivot, pivot_value=100.0, extreme_date=last, extreme_value=100 + pct,
                        last_date=last, last_value=100 + pct, bars_since_pivot=5, pct_from_pivot=pct,
                        pct_from_extreme=0.0)


def leg(pct: float, deleted: bool = False) -> Leg:
    return Leg(symbol="AAPL", gtype="close", start_date=dt.date(2025, 1, 2), start_value=100.0,
               end_date=dt.date(2025, 1, 9), end_value=100 + pct, bars=5, change=pct, pct=pct,
               direction="up" if pct > 0 else "down", deleted=deleted)


def test_outlier_one_alert_per_row_with_spec_payload() -> None:
    rules = [rule("outlier", match="plant*/people"), rule("outlier", name="low-only", direction="low")]
    [a] = outlier_alerts(rules, outlier())
    assert (a.rule, a.kind, a.status, a.subject, a.at, a.value) == ("outlier", "outlier", "firing", "plant0/people", T0, 42.0)
    assert a.details["direction"] == "high" and a.details["mean"] == 20.1 and a.details["std"] == 3.2
    assert "above mean 20.1" in a.message
    assert outlier_alerts(rules, outlier()) == [a]  # a replay: the same id
    assert outlier_alerts(rules, outlier(ts=T0 + dt.timedelta(seconds=1)))[0].id != a.id
    assert [x.rule for x in outlier_alerts(rules, outlier(direction="low", value=1.0))] == ["outlier", "low-only"]
    assert outlier_alerts(rules, outlier(series="plant0/vehicle")) == []


def test_glob_over_series_names_with_slashes() -> None:
    rules = [rule("outlier", match="site/*/temp")]
    assert len(outlier_alerts(rules, outlier(series="site/a/b/temp"))) == 1
    assert outlier_alerts(rules, outlier(series="site/a/temp2")) == []


def test_anomaly_only_above_the_threshold() -> None:
    def pred(score: float, kind: str = "anomaly") -> Prediction:
        return Prediction(model="sensor-ae", version="v3", kind=kind, target="line1/temp", asof=T0,  # type: ignore[arg-type]
                          horizon=0, values=[score, 2.0, 1.0 if score > 2 else 0.0], trace_id="t")
    rules = [rule("anomaly", match="line1/*")]
    [a] = anomaly_alerts(rules, pred(2.5))
    assert a.value == 2.5 and a.details["threshold"] == 2.0 and a.at == T0
    assert anomaly_alerts(rules, pred(2.0)) == []
    assert anomaly_alerts(rules, pred(9.0, kind="forecast")) == []


def test_drop_from_rise_once_per_pivot() -> None:
    rules = [rule("drop_from_rise", min_pct=10)]
    assert drop_alerts(rules, state(-9.99)) == []
    assert drop_alerts(rules, state(-12.0, direction="up")) == []
    assert drop_alerts(rules, state(-12.0, gtype="open")) == []
    [a] = drop_alerts(rules, state(-10.0))
    assert a.at == dt.datetime(2025, 1, 20, tzinfo=dt.UTC) and a.value == -10.0
    [b] = drop_alerts(rules, state(-15.0, last=dt.date(2025, 1, 21)))
    assert b.id == a.id  # the same pivot: one alert (the notifier keeps the first)
    [c] = drop_alerts(rules, state(-15.0, pivot=dt.date(2025, 2, 1), last=dt.date(2025, 2, 9)))
    assert c.id != a.id  # a new pivot may alert again


def test_leg_fires_and_a_withdrawn_leg_resolves_with_the_same_id() -> None:
    rules = [rule("leg", min_pct=5)]
    assert leg_alerts(rules, leg(4.9)) == []
    [a] = leg_alerts(rules, leg(-5.0))
    assert a.status == "firing" and a.at == dt.datetime(2025, 1, 9, tzinfo=dt.UTC)
    [r] = leg_alerts(rules, leg(-5.0, deleted=True))
    assert r.status == "resolved" and r.id == a.id and "withdrawn" in r.message


def test_stale_fires_on_tick_and_resolves_when_fresh_again() -> None:
    rules = [rule("stale", match="ingest.serial.*", max_age_s=60)]
    tracker = StaleTracker()
    job = "ingest.serial./dev/ttyUSB0"
    assert tracker.observe(rules, JobInfo(job=job, status="ok", last_success=T0)) == []
    assert tracker.tick(rules, T0 + dt.timedelta(seconds=60)) == []
    [a] = tracker.tick(rules, T0 + dt.timedelta(seconds=61))
    assert (a.status, a.subject, a.at) == ("firing", job, T0)
    assert tracker.tick(rules, T0 + dt.timedelta(seconds=600)) == []  # one alert, not one per tick
    fresh = T0 + dt.timedelta(seconds=700)
    [r] = tracker.observe(rules, JobInfo(job=job, status="ok", last_success=fresh))
    assert (r.status, r.id, r.at) == ("resolved", a.id, fresh)
    assert tracker.tick(rules, fresh + dt.timedelta(seconds=30)) == []
    assert tracker.observe(rules, JobInfo(job="loader.outlier", status="ok", last_success=T0)) == []


def test_stale_gap_seen_in_the_data_alone_gives_the_same_alerts_as_the_clock() -> None:
    """A replay of the jobs topic (no ticks in between) finds the stale period from the gap."""
    rules = [rule("stale", max_age_s=60)]
    live, replay = StaleTracker(), StaleTracker()
    first = JobInfo(job="ingest.http.cctv", status="ok", last_success=T0)
    later = JobInfo(job="ingest.http.cctv", status="ok", last_success=T0 + dt.timedelta(seconds=300))
    live.observe(rules, first)
    fired = live.tick(rules, T0 + dt.timedelta(seconds=120))
    fired += live.observe(rules, later)
    replay.observe(rules, first)
    replayed = replay.observe(rules, later)
    assert [(a.id, a.status, a.at) for a in replayed] == [(a.id, a.status, a.at) for a in fired]
    assert [a.status for a in replayed] == ["firing", "resolved"]
    # successes closer than max_age_s never alert, and an old record never goes back in time
    assert replay.observe(rules, JobInfo(job="ingest.http.cctv", status="ok", last_success=T0)) == []
    assert replay.observe(rules, later.model_copy(update={"last_success": later.last_success + dt.timedelta(seconds=59)})) == []


def test_dead_letters_once_per_window_when_min_count_is_reached() -> None:
    rules = [rule("dead_letters", match="turnpoint.dlq.*", min_count=3, window_s=60)]
    counter = DeadLetterCounter()

    def letter(sec: float) -> DeadLetter:
        return DeadLetter(reason="invalid", detail="value: bad", service="ingest", payload="x",
                          at=T0 + dt.timedelta(seconds=sec))
    topic = "turnpoint.dlq.readings.v1"
    fired = [a for s in (1, 2, 3, 4, 5) for a in counter.observe(rules, topic, letter(s))]
    assert len(fired) == 1 and fired[0].value == 3 and fired[0].at == T0 + dt.timedelta(seconds=3)
    fired_next = [a for s in (61, 62, 63) for a in counter.observe(rules, topic, letter(s))]
    assert len(fired_next) == 1 and fired_next[0].id != fired[0].id
    replay = DeadLetterCounter()
    again = [a for s in (1, 2, 3) for a in replay.observe(rules, topic, letter(s))]
    assert [a.id for a in again] == [fired[0].id]


def test_cooldown_is_per_rule_and_subject_in_event_time() -> None:
    assert not in_cooldown(None, T0, 60)
    assert in_cooldown(T0, T0 + dt.timedelta(seconds=59), 60)
    assert not in_cooldown(T0, T0 + dt.timedelta(seconds=60), 60)
    assert not in_cooldown(T0, T0 + dt.timedelta(seconds=1), 0)
    assert not in_cooldown(T0, T0 - dt.timedelta(seconds=1), 60)  # an older event is not "after" the last one


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(7)
    waits = [backoff_s(n, base=1, cap=30, rng=rng) for n in range(1, 10)]
    for n, w in enumerate(waits, start=1):
        ceiling = min(30, 2 ** (n - 1))
        assert ceiling / 2 <= w <= ceiling
    assert len({round(w, 6) for w in waits}) == len(waits)


def test_slack_and_teams_bodies_carry_the_alert() -> None:
    [a] = outlier_alerts([rule("outlier")], outlier())
    assert body(a)["id"] == a.id and body(a)["at"] == "2025-03-01T09:00:00Z"
    slack = body(a, "slack")
    assert a.message in slack["text"] and slack["turnpoint"]["id"] == a.id
    teams = body(a, "teams")
    assert teams["@type"] == "MessageCard" and teams["text"] == a.message


def test_a_dead_letter_read_twice_counts_once() -> None:
    rules = [rule("dead_letters", min_count=2, window_s=60)]
    counter = DeadLetterCounter()
    letter = DeadLetter(reason="late", detail="", service="transform", payload="x", at=T0)
    assert counter.observe(rules, "turnpoint.dlq.readings.v1", letter, (0, 5, 0)) == []
    assert counter.observe(rules, "turnpoint.dlq.readings.v1", letter, (0, 5, 0)) == []  # a rewind re-reads it
    assert len(counter.observe(rules, "turnpoint.dlq.readings.v1", letter, (0, 6, 0))) == 1
