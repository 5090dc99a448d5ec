"""The evaluator and the notifier as real processes, real broker, real PostgreSQL, a local receiver.

The data set has known outliers, drops from rise, legs (one withdrawn) and a stale serial port; the
receiver must get exactly the expected alert ids, through receiver failures and SIGKILLs.
"""

from __future__ import annotations

import datetime as dt
import textwrap
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from support.webhooks import Receiver, wait_for

from turnpoint.core import topics
from turnpoint.core.alerts.evaluate import drop_alerts, leg_alerts, outlier_alerts
from turnpoint.core.alerts.model import alert_id
from turnpoint.core.alerts.rules import parse_rules
from turnpoint.core.contracts import Leg, Outlier, ReboundState, item_json, utcnow

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def rules_text(url: str) -> str:
    return textwrap.dedent(f"""\
        rules:
          - name: plant-outliers
            kind: outlier
            match: "plant*/people"
            webhook: {url}
          - name: drops
            kind: drop_from_rise
            match: "*"
            min_pct: 10
            webhook: {url}
          - name: legs
            kind: leg
            match: "*"
            min_pct: 5
            webhook: {url}
          - name: ports
            kind: stale
            match: "ingest.serial.*"
            max_age_s: 600
            webhook: {url}
        """)


def outliers(n: int, start: int = 0) -> list[Outlier]:
    out = []
    for i in range(start, start + n):
        series = ("plant0/people", "plant1/people", "plant0/temp")[i % 3]  # plant0/temp: no rule
        out.append(Outlier(series=series, ts=T0 + dt.timedelta(minutes=i), value=40.0 + i, mean=20.0, std=3.0,
                           direction="high" if i % 2 else "low", k=1.5, window_days=28))
    return out


def state(symbol: str, pct: float, pivot: dt.date, last: dt.date, direction: str = "down") -> ReboundState:
    return ReboundState(symbol=symbol, gtype="close", threshold=0.0, direction=direction,  # type: ignore[arg-type]
                        pivot_date=pivot, pivot_value=100.0, extreme_date=last, extreme_value=100 + pct,
                        last_date=last, last_value=100 + pct, bars_since_pivot=3, pct_from_pivot=pct,
                        pct_from_extreme=0.0)


def leg(symbol: str, pct: float, end: dt.date, deleted: bool = False) -> Leg:
    return Leg(symbol=symbol, gtype="close", start_date=end - dt.timedelta(days=7), start_value=100.0, end_date=end,
               end_value=100 + pct, bars=5, change=pct, pct=pct, direction="up" if pct > 0 else "down",
               deleted=deleted)


def dataset() -> dict[str, list[Any]]:
    d = dt.date(2025, 1, 6)
    return {
        "outliers": outliers(9),
        "states": [
            state("AAA", -5.0, d, d + dt.timedelta(days=1)),  # not past the line
            state("AAA", -11.0, d, d + dt.timedelta(days=2)),  # alert (pivot d)
            state("AAA", -14.0, d, d + dt.timedelta(days=3)),  # same pivot: no new alert
            state("AAA", -20.0, d, d + dt.timedelta(days=4), direction="up"),  # not down
            state("BBB", -10.0, d + dt.timedelta(days=9), d + dt.timedelta(days=12)),  # alert (another pivot)
        ],
        "legs": [leg("AAA", 12.0, d), leg("AAA", -3.0, d + dt.timedelta(days=9)), leg("BBB", -8.0, d),
                 leg("BBB", -8.0, d, deleted=True)],
    }


def expected(url: str, data: dict[str, list[Any]], port_success: dt.datetime) -> set[str]:
    rules = parse_rules(rules_text(url)).rules
    alerts = [a for o in data["outliers"] for a in outlier_alerts(rules, o)]
    alerts += [a for s in data["states"] for a in drop_alerts(rules, s)]
    alerts += [a for x in data["legs"] for a in leg_alerts(rules, x)]
    ids = {a.id + ("" if a.status == "firing" else ":resolved") for a in alerts}
    ids.add(alert_id("ports", "stale", "ingest.serial.port0", port_success))
    return ids


def publish(produce: Any, data: dict[str, list[Any]]) -> None:
    for o in data["outliers"]:
        produce(topics.OUTLIERS, [item_json(o)], o.series)
    for s in data["states"]:
        produce(topics.STATES, [item_json(s)], s.symbol)
    for x in data["legs"]:
        produce(topics.LEGS, [item_json(x)], x.symbol)


def jobs(produce: Any, stale_success: dt.datetime) -> None:
    produce(topics.JOBS, [{"job": "ingest.serial.port0", "status": "ok", "last_success": stale_success.isoformat()}],
            "ingest.serial.port0")
    produce(topics.JOBS, [{"job": "ingest.serial.port1", "status": "ok", "last_success": utcnow().isoformat()}],
            "ingest.serial.port1")


def table(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute("SELECT * FROM alert ORDER BY at, id").fetchall()


def test_exactly_the_expected_ids_then_fresh_again_resolves(
    receiver: Receiver, alerts_env: dict[str, str], start_alerts: Any, produce: Any, migrated_db: str,
) -> None:
    Path(alerts_env["TURNPOINT_ALERTS__RULES_FILE"]).write_text(rules_text(receiver.url))
    start_alerts("all")
    data = dataset()
    port_success = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    publish(produce, data)
    jobs(produce, port_success)
    want = expected(receiver.url, data, port_success)
    assert len(want) == 6 + 2 + 2 + 1 + 1  # outliers, drops from rise, legs, the withdrawal, the stale port
    wait_for(lambda: receiver.ids() >= want, 120, "the expected alerts")
    time.sleep(2)  # anything extra would arrive now
    assert receiver.ids() == want
    for key, body in receiver.posts:
        assert key == body["id"]
    stale = next(b for b in receiver.bodies() if b["kind"] == "stale")
    assert stale["subject"] == "ingest.serial.port0" and stale["at"] == port_success.isoformat().replace("+00:00", "Z")
    # the port posts again: its alert resolves with the same id
    fresh = utcnow().replace(microsecond=0)
    produce(topics.JOBS, [{"job": "ingest.serial.port0", "status": "ok", "last_success": fresh.isoformat()}],
            "ingest.serial.port0")
    want.add(stale["id"] + ":resolved")
    wait_for(lambda: receiver.ids() >= want, 60, "the stale port's resolution")
    rows = table(migrated_db)
    assert {r["delivery"] for r in rows} == {"delivered"}
    assert len(rows) == len(want)
    # a replay of everything changes nothing
    n = len(receiver.posts)
    publish(produce, data)
    time.sleep(4)
    assert len(receiver.posts) == n and len(table(migrated_db)) == len(want)


def test_receiver_failures_and_outage_lose_nothing(
    receiver: Receiver, alerts_env: dict[str, str], start_alerts: Any, produce: Any, migrated_db: str,
) -> None:
    Path(alerts_env["TURNPOINT_ALERTS__RULES_FILE"]).write_text(rules_text(receiver.url))
    receiver.mode = "fail"
    start_alerts("all")
    data = dataset()
    port_success = (utcnow() - dt.timedelta(hours=1)).replace(microsecond=0)
    publish(produce, data)
    jobs(produce, port_success)
    want = expected(receiver.url, data, port_success)
    wait_for(lambda: len(table(migrated_db)) == len(want) and all(r["attempts"] >= 2 for r in table(migrated_db)),
             120, "every alert to be refused at least twice")
    assert receiver.posts == []
    assert {r["delivery"] for r in table(migrated_db)} == {"pending"}
    assert all(r["last_error"].startswith("HTTP 500") for r in table(migrated_db))
    receiver.stop()  # the receiver goes away for 30 s
    more = outliers(30, start=100)
    for o in more:
        produce(topics.OUTLIERS, [item_json(o)], o.series)
    rules = parse_rules(rules_text(receiver.url)).rules
    want |= {a.id for o in more for a in outlier_alerts(rules, o)}
    time.sleep(30)
    assert all(r["delivery"] == "pending" for r in table(migrated_db))
    receiver.mode = "ok"
    receiver.start()
    wait_for(lambda: receiver.ids() >= want, 120, "every alert after the outage")
    time.sleep(3)
    assert receiver.ids() == want
    for key, body in receiver.posts:  # duplicates, if any, carry the same id
        assert key == body["id"]
    rows = table(migrated_db)
    assert {r["delivery"] for r in rows} == {"delivered"} and len(rows) == len(want)
    assert all(r["first_attempt_at"] <= r["last_attempt_at"] <= r["delivered_at"] for r in rows)


def test_sigkill_of_evaluator_and_notifier_changes_no_delivered_id(
    receiver: Receiver, alerts_env: dict[str, str], start_alerts: Any, produce: Any, migrated_db: str,
) -> None:
    Path(alerts_env["TURNPOINT_ALERTS__RULES_FILE"]).write_text(rules_text(receiver.url))
    evaluator = start_alerts("evaluator")
    notifier = start_alerts("notifier")
    rules = parse_rules(rules_text(receiver.url)).rules
    want: set[str] = set()
    for chunk in range(10):
        batch = outliers(60, start=1000 + chunk * 60)
        for o in batch:
            produce(topics.OUTLIERS, [item_json(o)], o.series)
        want |= {a.id for o in batch for a in outlier_alerts(rules, o)}
        if chunk == 3:
            evaluator.kill()
            evaluator.start()
        if chunk == 6:
            notifier.kill()
            notifier.start()
    wait_for(lambda: receiver.ids() >= want, 180, "every alert after the kills")
    time.sleep(3)
    assert receiver.ids() == want
    for key, body in receiver.posts:
        assert key == body["id"]
    rows = table(migrated_db)
    assert len(rows) == len(want) and {r["delivery"] for r in rows} == {"delivered"}
