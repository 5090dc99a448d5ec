"""The alert record on `turnpoint.alerts.v1` and in the webhook body (SPEC §6), and its stable id."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from pydantic import Field

from turnpoint.core.contracts import AwareDatetime, Item

Kind = Literal["outlier", "anomaly", "drop_from_rise", "leg", "stale", "dead_letters"]
KINDS: tuple[Kind, ...] = ("outlier", "anomaly", "drop_from_rise", "leg", "stale", "dead_letters")
Status = Literal["firing", "resolved"]


class Alert(Item):
    """One alert: `id` is derived from the rule and the event's natural key, `at` is the event's own time."""

    id: str = Field(min_length=1, max_length=64)
    rule: str
    kind: Kind
    status: Status = "firing"
    subject: str
    at: AwareDatetime
    value: float | None = None
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


def alert_id(rule: str, kind: str, *key: object) -> str:
    """A replay of the same event under the same rule gives the same id (32 hex digits of sha256)."""
    raw = "\x1f".join([rule, kind, *(_part(k) for k in key)])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _part(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def midnight(day: dt.date) -> dt.datetime:
    """A bar's date as the instant SPEC §6 uses for `at` (00:00Z)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
