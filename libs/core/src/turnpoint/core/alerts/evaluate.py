"""The rules as pure functions: an event (and, for two kinds, explicit state) in, alerts out.

Stateless kinds (outlier, anomaly, drop_from_rise, leg) give the same alert, with the same id, every time
they see the same event, so a replayed topic is harmless: the notifier keeps one row per id and status.
`stale` and `dead_letters` keep small explicit state (`StaleTracker`, `DeadLetterCounter`) whose alerts
also depend only on event times, never on when they are evaluated, except for the one clock question
"is this job stale *now*", which `StaleTracker.tick` answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from turnpoint.core.alerts.model import Alert, Status, alert_id, midnight
from turnpoint.core.alerts.rules import Rule
from turnpoint.core.contracts import DeadLetter, JobInfo, Leg, Outlier, Prediction, ReboundState


class _Matches:
    """The rules of a kind that match a subject, remembered per rules list (a backfill asks the same question
    for every one of millions of legs and states: the glob match was a third of the evaluator's time).

    Keyed on the rules object itself, held here so that its identity cannot be reused (a reloaded file is a
    new list, which starts a new memory; a one-off iterable is read once and forgotten at the next call);
    bounded so that an unbounded set of subjects cannot grow it.
    """

    __slots__ = ("known", "rules")
    LIMIT = 100_000

    def __init__(self) -> None:
        self.rules: object = None
        self.known: dict[tuple[str, str], list[Rule]] = {}

    def __call__(self, rules: Iterable[Rule], kind: str, subject: str) -> list[Rule]:
        if rules is not self.rules:
            self.known.clear()
            self.rules = rules
        found = self.known.get((kind, subject))
        if found is None:
            if len(self.known) >= self.LIMIT:
                self.known.clear()
            found = self.known[(kind, subject)] = [r for r in rules if r.kind == kind and r.matches(subject)]
        return found


_rules = _Matches()


def could_alert_leg(rules: Iterable[Rule], item: Any) -> bool:
    """Whether a leg rule could fire for this item of the legs topic, read from its raw JSON: a rule of kind
    `leg` matches its symbol and gtype and abs(pct) reaches min_pct. A necessary condition of `leg_alerts`
    for every valid item; an item that cannot be read this way is a candidate (validation then judges it)."""
    try:
        symbol, gtype, size = item["symbol"], item["gtype"], abs(item["pct"])
        return any(_gtype_ok(r, gtype) and size >= r.min_pct for r in _rules(rules, "leg", symbol))
    except Exception:  # not an object, a field missing or of the wrong type: let validation say what
        return True


def could_alert_drop(rules: Iterable[Rule], item: Any) -> bool:
    """Whether a drop_from_rise rule could fire for this item of the states topic, read from its raw JSON
    (direction down, pct_from_pivot at or past -min_pct of a rule matching its symbol and gtype); as
    `could_alert_leg`, a necessary condition of `drop_alerts`."""
    try:
        if item["direction"] != "down":
            return False
        symbol, gtype, drop = item["symbol"], item["gtype"], item["pct_from_pivot"]
        return any(_gtype_ok(r, gtype) and drop <= -r.min_pct for r in _rules(rules, "drop_from_rise", symbol))
    except Exception:
        return True


def outlier_alerts(rules: Iterable[Rule], o: Outlier) -> list[Alert]:
    """One alert per outlier row of a matching series whose direction the rule wants."""
    out = []
    for r in _rules(rules, "outlier", o.series):
        if r.direction not in ("any", o.direction):
            continue
        side = f"above mean {o.mean:.6g} + {o.k:g}·std {o.std:.6g}" if o.direction == "high" else (
            f"below mean {o.mean:.6g} - {o.k:g}·std {o.std:.6g}")
        out.append(Alert(
            id=alert_id(r.name, r.kind, o.series, o.ts), rule=r.name, kind=r.kind, subject=o.series, at=o.ts,
            value=o.value, message=f"{o.series} {o.value:g} {side}",
            details={"mean": o.mean, "std": o.std, "direction": o.direction, "k": o.k, "window_days": o.window_days},
        ))
    return out


def anomaly_alerts(rules: Iterable[Rule], p: Prediction) -> list[Alert]:
    """One alert per anomaly prediction whose score exceeds the model's threshold (values = [score, threshold, ...])."""
    if p.kind != "anomaly" or len(p.values) < 2:
        return []
    score, threshold = p.values[0], p.values[1]
    if not score > threshold:
        return []
    return [
        Alert(
            id=alert_id(r.name, r.kind, p.model, p.target, p.asof), rule=r.name, kind=r.kind, subject=p.target,
            at=p.asof, value=score,
            message=f"{p.target} anomaly score {score:.4g} above threshold {threshold:.4g} ({p.model} {p.version})",
            details={"score": score, "threshold": threshold, "model": p.model, "version": p.version,
                     "trace_id": p.trace_id},
        )
        for r in _rules(rules, "anomaly", p.target)
    ]


def _gtype_ok(rule: Rule, gtype: str) -> bool:
    return rule.gtype in ("any", gtype)


def drop_alerts(rules: Iterable[Rule], s: ReboundState) -> list[Alert]:
    """One alert per (symbol, gtype, pivot) once the state is down and pct_from_pivot <= -min_pct.

    Every later state of the same pivot that is still past the line gives the same id again (deduplicated
    downstream); `at` is the date of the bar that was evaluated (00:00Z).
    """
    if s.direction != "down":
        return []
    out = []
    for r in _rules(rules, "drop_from_rise", s.symbol):
        if not _gtype_ok(r, s.gtype) or not s.pct_from_pivot <= -r.min_pct:
            continue
        out.append(Alert(
            id=alert_id(r.name, r.kind, s.symbol, s.gtype, s.threshold, s.pivot_date), rule=r.name, kind=r.kind,
            subject=s.symbol, at=midnight(s.last_date), value=s.pct_from_pivot,
            message=(f"{s.symbol} {s.gtype} is {-s.pct_from_pivot:.2f}% below the rise that ended "
                     f"{s.pivot_date} at {s.pivot_value:g} (line: {r.min_pct:g}%)"),
            details={"gtype": s.gtype, "pivot_date": s.pivot_date.isoformat(), "pivot_value": s.pivot_value,
                     "last_date": s.last_date.isoformat(), "last_value": s.last_value,
                     "pct_from_pivot": s.pct_from_pivot, "threshold": s.threshold},
        ))
    return out


def leg_alerts(rules: Iterable[Rule], leg: Leg) -> list[Alert]:
    """One alert per confirmed leg with abs(pct) >= min_pct; a withdrawn leg resolves it (same id)."""
    out = []
    for r in _rules(rules, "leg", leg.symbol):
        if not _gtype_ok(r, leg.gtype) or not abs(leg.pct) >= r.min_pct:
            continue
        status: Status = "resolved" if leg.deleted else "firing"
        what = "withdrawn by a revision" if leg.deleted else "confirmed"
        out.append(Alert(
            id=alert_id(r.name, r.kind, leg.symbol, leg.gtype, leg.start_date, leg.end_date), rule=r.name,
            kind=r.kind, status=status, subject=leg.symbol, at=midnight(leg.end_date), value=leg.pct,
            message=(f"{leg.symbol} {leg.gtype} {leg.direction} leg {leg.start_date} -> {leg.end_date} "
                     f"{leg.pct:+.2f}% {what}"),
            details={"gtype": leg.gtype, "direction": leg.direction, "start_date": leg.start_date.isoformat(),
                     "start_value": leg.start_value, "end_date": leg.end_date.isoformat(),
                     "end_value": leg.end_value, "bars": leg.bars, "change": leg.change},
        ))
    return out


def dead_letter_subject(topic: str, prefix: str = "") -> str:
    """The subject of a dead-letter topic: its catalogue name, without the deployment's prefix."""
    return topic[len(prefix):] if prefix and topic.startswith(prefix) else topic


# ---------------------------------------------------------------------------------------------- stale


@dataclass
class _Job:
    last_success: dt.datetime
    fired: dict[str, dt.datetime] = field(default_factory=dict)  # rule -> the last_success it fired for


@dataclass
class StaleTracker:
    """Per job, the latest last_success seen; alerts when it is older than a rule's `max_age_s`.

    - `tick(now)`: a firing alert for each matching job whose last success is older than max_age_s now.
    - `observe(job)`: a newer last success resolves an open alert. A gap longer than max_age_s between two
      successes means the job was stale in between, so firing + resolved are produced from the data alone
      (the same ids `tick` would have given): a restart or replay of the jobs topic loses no alert.
    The id is (rule, job, the stale last_success): firing and its resolution share it.
    """

    jobs: dict[str, _Job] = field(default_factory=dict)

    def observe(self, rules: Iterable[Rule], info: JobInfo) -> list[Alert]:
        if info.last_success is None:
            return []
        prev = self.jobs.get(info.job)
        if prev is None:
            self.jobs[info.job] = _Job(info.last_success)
            return []
        if info.last_success <= prev.last_success:
            return []
        out = []
        for r in _rules(rules, "stale", info.job):
            assert r.max_age_s is not None  # validated by Rule
            gap = (info.last_success - prev.last_success).total_seconds()
            if r.name in prev.fired or gap > r.max_age_s:
                stale_at = prev.fired.get(r.name, prev.last_success)
                if r.name not in prev.fired:
                    out.append(self._firing(r, info.job, stale_at))
                out.append(self._resolved(r, info.job, stale_at, info.last_success))
        self.jobs[info.job] = _Job(info.last_success)
        return out

    def tick(self, rules: Iterable[Rule], now: dt.datetime) -> list[Alert]:
        out = []
        for job, state in self.jobs.items():
            for r in _rules(rules, "stale", job):
                assert r.max_age_s is not None
                age = (now - state.last_success).total_seconds()
                if age > r.max_age_s and r.name not in state.fired:
                    state.fired[r.name] = state.last_success
                    out.append(self._firing(r, job, state.last_success))
        return out

    @staticmethod
    def _firing(r: Rule, job: str, last_success: dt.datetime) -> Alert:
        return Alert(
            id=alert_id(r.name, r.kind, job, last_success), rule=r.name, kind=r.kind, subject=job, at=last_success,
            value=r.max_age_s, message=f"{job} has not succeeded since {last_success.isoformat()} (max age {r.max_age_s:g} s)",
            details={"last_success": last_success.isoformat(), "max_age_s": r.max_age_s},
        )

    @staticmethod
    def _resolved(r: Rule, job: str, stale_since: dt.datetime, fresh: dt.datetime) -> Alert:
        return Alert(
            id=alert_id(r.name, r.kind, job, stale_since), rule=r.name, kind=r.kind, status="resolved", subject=job,
            at=fresh, value=(fresh - stale_since).total_seconds(),
            message=f"{job} is fresh again: succeeded at {fresh.isoformat()} (stale since {stale_since.isoformat()})",
            details={"last_success": fresh.isoformat(), "stale_since": stale_since.isoformat(),
                     "max_age_s": r.max_age_s},
        )


# ---------------------------------------------------------------------------------------- dead letters


@dataclass
class DeadLetterCounter:
    """Counts dead letters per (rule, topic) in tumbling windows of `window_s` aligned to the epoch.

    One alert per (rule, topic, window) when its count reaches `min_count`; the window is taken from the
    dead letter's own `at`, so a replay gives the same alerts with the same ids. `ref` names the record
    (partition, offset, index): a record read twice (a rewind, a re-read after a rebalance) counts once.
    """

    seen: dict[tuple[str, str, int], set[object]] = field(default_factory=dict)

    def observe(self, rules: Iterable[Rule], topic: str, letter: DeadLetter, ref: object = None) -> list[Alert]:
        out = []
        stamp = letter.at.timestamp()
        for r in _rules(rules, "dead_letters", topic):
            window = int(stamp // r.window_s)
            refs = self.seen.setdefault((r.name, topic, window), set())
            before = len(refs)
            refs.add(ref if ref is not None else (before, letter))
            n = len(refs)
            if n == before or n != r.min_count:
                continue
            start = dt.datetime.fromtimestamp(window * r.window_s, dt.UTC)
            out.append(Alert(
                id=alert_id(r.name, r.kind, topic, start), rule=r.name, kind=r.kind, subject=topic, at=letter.at,
                value=float(n),
                message=f"{topic} received {n} dead letters within {r.window_s:g} s (latest: {letter.reason})",
                details={"window_start": start.isoformat(), "window_s": r.window_s, "min_count": r.min_count,
                         "reason": letter.reason, "detail": letter.detail[:500]},
            ))
        self._forget()
        return out

    def _forget(self, keep: int = 10_000) -> None:
        if len(self.seen) > keep:  # the oldest windows: far behind the newest dead letter
            for key in sorted(self.seen, key=lambda k: k[2])[: len(self.seen) - keep]:
                del self.seen[key]
