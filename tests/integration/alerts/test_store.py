"""The alert table on real PostgreSQL: idempotent inserts, cooldowns in event time, attempts recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from turnpoint.alerts.store import AlertStore, Outcome
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import parse_rules

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
RULES = parse_rules("rules:\n  - {name: calm, kind: outlier, webhook: 'http://127.0.0.1:9/h', cooldown_s: 60}\n"
                    "  - {name: loud, kind: outlier, webhook: 'http://127.0.0.1:9/h'}\n")


def alert(rule: str, sec: int, subject: str = "plant0/people", status: str = "firing") -> Alert:
    return Alert(id=f"{rule}-{subject}-{sec}", rule=rule, kind="outlier", status=status, subject=subject,  # type: ignore[arg-type]
                 at=T0 + dt.timedelta(seconds=sec), value=1.0, message="m")


def rows(store: AlertStore) -> dict[str, dict[str, Any]]:
    return {r["id"] + ":" + r["status"]: r for r in store.conn.execute("SELECT * FROM alert").fetchall()}


def test_cooldown_per_rule_and_subject_across_batches_and_replays(migrated_db: str) -> None:
    store = AlertStore(migrated_db)
    try:
        first = store.insert([alert("calm", 0), alert("calm", 30), alert("calm", 30, "plant1/people"),
                              alert("loud", 10), alert("loud", 20)], RULES, lease_s=30)
        assert sorted(a.id for a, _ in first.deliver) == [
            "calm-plant0/people-0", "calm-plant1/people-30", "loud-plant0/people-10", "loud-plant0/people-20"]
        # a later batch: the previous alert comes from the table; a resolution is never suppressed
        second = store.insert([alert("calm", 59), alert("calm", 61), alert("calm", 65, status="resolved"),
                               alert("calm", 0)], RULES, lease_s=30)  # the last one: a replay
        assert sorted((a.id, a.status) for a, _ in second.deliver) == [
            ("calm-plant0/people-61", "firing"), ("calm-plant0/people-65", "resolved")]
        table = rows(store)
        assert table["calm-plant0/people-30:firing"]["delivery"] == "suppressed"
        assert table["calm-plant0/people-59:firing"]["delivery"] == "suppressed"
        assert len(table) == 8
    finally:
        store.close()


def test_attempts_are_recorded_and_a_delivered_alert_is_never_claimed_again(migrated_db: str) -> None:
    store = AlertStore(migrated_db)
    try:
        store.insert([alert("loud", 1), alert("loud", 2)], RULES, lease_s=0.001)
        now = dt.datetime.now(dt.UTC)
        store.record([Outcome("loud-plant0/people-1", "firing", False, now, now, "HTTP 500: no", 500, 0.0),
                      Outcome("loud-plant0/people-2", "firing", True, now, now, None, 204, 0.0)])
        store.record([Outcome("loud-plant0/people-2", "firing", False, now, now, "late", 500, 0.0)])  # ignored
        table = rows(store)
        failed, ok = table["loud-plant0/people-1:firing"], table["loud-plant0/people-2:firing"]
        assert (failed["delivery"], failed["attempts"], failed["last_error"], failed["last_response"]) == (
            "pending", 1, "HTTP 500: no", 500)
        assert (ok["delivery"], ok["attempts"], ok["delivered_at"] is not None) == ("delivered", 1, True)
        assert [a.id for a, _ in store.claim_due(10, lease_s=30)] == ["loud-plant0/people-1"]
        assert store.claim_due(10, lease_s=30) == []  # leased
        assert store.release_all() == 1 and store.pending() == 1
    finally:
        store.close()
