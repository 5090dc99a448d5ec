"""The `alert` table (migration 0008): one row per (id, status), every delivery attempt recorded on it.

Each thread of the notifier owns one `AlertStore` (one connection). Inserting is idempotent: a replayed
alert lands on its existing row and is not handed out again, so a delivered alert is never re-sent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row

from turnpoint.core.alerts.delivery import in_cooldown
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import RulesFile

COLUMNS = "id, status, rule, kind, subject, at, value, message, details, attempts"

INSERT = f"""
INSERT INTO alert (id, status, rule, kind, subject, at, value, message, details, delivery, next_attempt_at)
SELECT i, s, r, k, sub, a, v, m, d::jsonb, dl, now() + make_interval(secs => %(lease)s)
FROM unnest(%(id)s::text[], %(status)s::text[], %(rule)s::text[], %(kind)s::text[], %(subject)s::text[],
            %(at)s::timestamptz[], %(value)s::float8[], %(message)s::text[], %(details)s::text[], %(delivery)s::text[])
     AS t(i, s, r, k, sub, a, v, m, d, dl)
ON CONFLICT (id, status) DO NOTHING
RETURNING {COLUMNS}, delivery
"""

LAST_SENT = """
SELECT max(at) FROM alert
WHERE rule = %s AND subject = %s AND status = 'firing' AND delivery <> 'suppressed' AND at <= %s AND id <> %s
"""

CLAIM = f"""
UPDATE alert SET next_attempt_at = now() + make_interval(secs => %(lease)s)
WHERE (id, status) IN (
    SELECT id, status FROM alert WHERE delivery = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING {COLUMNS}
"""

RECORD = """
UPDATE alert AS a SET
    attempts = a.attempts + 1,
    first_attempt_at = coalesce(a.first_attempt_at, t.started),
    last_attempt_at = t.started,
    delivery = CASE WHEN t.ok THEN 'delivered' ELSE 'pending' END,
    delivered_at = CASE WHEN t.ok THEN t.finished END,
    last_error = t.error,
    last_response = t.code,
    next_attempt_at = CASE WHEN t.ok THEN a.next_attempt_at ELSE t.finished + make_interval(secs => t.wait) END
FROM unnest(%s::text[], %s::text[], %s::bool[], %s::timestamptz[], %s::timestamptz[], %s::text[], %s::int[],
            %s::float8[]) AS t(id, status, ok, started, finished, error, code, wait)
WHERE a.id = t.id AND a.status = t.status AND a.delivery = 'pending'
"""


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one attempt: ok (2xx), the response code if any, what went wrong, when to retry."""

    id: str
    status: str
    ok: bool
    started: dt.datetime
    finished: dt.datetime
    error: str | None
    code: int | None
    wait_s: float


@dataclass(frozen=True, slots=True)
class Inserted:
    deliver: list[tuple[Alert, int]]  # new pending rows, claimed by the caller for `lease_s`
    new: list[tuple[str, str]]  # (rule, delivery) of every new row


def row_alert(row: dict[str, Any]) -> tuple[Alert, int]:
    """An alert row as the record to deliver, with its attempts so far."""
    alert = Alert(id=row["id"], status=row["status"], rule=row["rule"], kind=row["kind"], subject=row["subject"],
                  at=row["at"], value=row["value"], message=row["message"], details=row["details"] or {})
    return alert, int(row["attempts"])


class AlertStore:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection[dict[str, Any]] | None = None

    @property
    def conn(self) -> psycopg.Connection[dict[str, Any]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.dsn, row_factory=dict_row, autocommit=True, connect_timeout=5)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def reset(self) -> None:
        """Forget a broken connection (the next call reconnects)."""
        try:
            self.close()
        except psycopg.Error:
            self._conn = None

    def insert(self, alerts: Sequence[Alert], rules: RulesFile, lease_s: float) -> Inserted:
        """Record alerts not seen before (cooldowns applied in event order); return those to deliver now."""
        if not alerts:
            return Inserted([], [])
        delivery: list[str] = []
        last: dict[tuple[str, str], dt.datetime] = {}
        with self.conn.transaction():
            for a in alerts:
                rule = rules.by_name(a.rule)
                cooldown = rule.cooldown_s if rule is not None else 0.0
                state = "pending"
                if a.status == "firing" and cooldown > 0:
                    key = (a.rule, a.subject)
                    prev = last.get(key)
                    if prev is None or prev > a.at:
                        row = self.conn.execute(LAST_SENT, (a.rule, a.subject, a.at, a.id)).fetchone()
                        prev = row["max"] if row else None
                    if in_cooldown(prev, a.at, cooldown):
                        state = "suppressed"
                    else:
                        last[key] = a.at
                delivery.append(state)
            rows = self.conn.execute(INSERT, {
                "lease": lease_s, "id": [a.id for a in alerts], "status": [a.status for a in alerts],
                "rule": [a.rule for a in alerts], "kind": [a.kind for a in alerts],
                "subject": [a.subject for a in alerts], "at": [a.at for a in alerts],
                "value": [a.value for a in alerts], "message": [a.message for a in alerts],
                "details": [orjson.dumps(a.details).decode() for a in alerts], "delivery": delivery,
            }).fetchall()
        return Inserted([(row_alert(r)[0], 0) for r in rows if r["delivery"] == "pending"],
                        [(r["rule"], r["delivery"]) for r in rows])

    def claim_due(self, limit: int, lease_s: float) -> list[tuple[Alert, int]]:
        rows = self.conn.execute(CLAIM, {"lease": lease_s, "limit": limit}).fetchall()
        return [row_alert(r) for r in rows]

    def release_all(self) -> int:
        """At start-up: attempts that were in flight when a previous notifier died are due again now."""
        cur = self.conn.execute("UPDATE alert SET next_attempt_at = now() WHERE delivery = 'pending' AND next_attempt_at > now()")
        return cur.rowcount

    def record(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        cols = list(zip(*[(o.id, o.status, o.ok, o.started, o.finished, o.error, o.code, o.wait_s) for o in outcomes],
                        strict=True))
        self.conn.execute(RECORD, [list(c) for c in cols])

    def pending(self) -> int:
        row = self.conn.execute("SELECT count(*) AS n FROM alert WHERE delivery = 'pending'").fetchone()
        return int(row["n"]) if row else 0

    def jobs(self) -> list[dict[str, Any]]:
        return self.conn.execute("SELECT job, status, last_success, rows, detail FROM job_info").fetchall()

    def ping(self) -> None:
        self.conn.execute("SELECT 1")
