"""A sample alert of a rule's kind, for `turnpoint alerts send-test` (its id is unique per call)."""

from __future__ import annotations

import uuid

from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import Rule
from turnpoint.core.contracts import utcnow

_SUBJECTS = {"outlier": "plant0/people", "anomaly": "line1/temp", "drop_from_rise": "005930.KS", "leg": "AAPL",
             "stale": "ingest.serial./dev/ttyUSB0", "dead_letters": "turnpoint.dlq.readings.v1"}


def sample_alert(rule: Rule) -> Alert:
    subject = _SUBJECTS[rule.kind] if rule.match in ("*", "") or any(c in rule.match for c in "*?[") else rule.match
    return Alert(
        id=f"test-{uuid.uuid4().hex[:27]}", rule=rule.name, kind=rule.kind, subject=subject, at=utcnow(), value=1.0,
        message=f"test alert of rule {rule.name} ({rule.kind}) from `turnpoint alerts send-test`",
        details={"test": True},
    )
