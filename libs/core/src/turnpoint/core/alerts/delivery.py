"""The pure parts of delivery: the body per format, the retry schedule, and the cooldown rule."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import Format


def body(alert: Alert, fmt: Format = "json") -> dict[str, Any]:
    """The JSON body: SPEC §6's payload, or a Slack / Microsoft Teams incoming-webhook message carrying it."""
    payload = alert.model_dump(mode="json")
    if fmt == "json":
        return payload
    title = f"[{alert.status}] {alert.rule}: {alert.subject}"
    if fmt == "slack":
        return {"text": f"*{title}*\n{alert.message}", "turnpoint": payload}
    return {  # Teams: the legacy MessageCard, accepted by incoming webhooks and Workflows
        "@type": "MessageCard", "@context": "https://schema.org/extensions", "summary": title,
        "themeColor": "2EB886" if alert.status == "resolved" else "D93F0B", "title": title, "text": alert.message,
        "sections": [{"facts": [{"name": "id", "value": alert.id}, {"name": "kind", "value": alert.kind},
                                {"name": "at", "value": payload["at"]}]}],
    }


def backoff_s(attempts: int, *, base: float = 0.5, cap: float = 60.0, rng: random.Random | None = None) -> float:
    """Seconds before the next attempt after `attempts` failures: exponential, capped, with full jitter
    over the upper half (so a receiver that comes back is not hit by every pending alert at once)."""
    ceiling = min(cap, base * 2 ** max(0, attempts - 1))
    r: float = rng.random() if rng is not None else random.random()
    return float(ceiling / 2 + r * ceiling / 2)


def in_cooldown(previous: dt.datetime | None, at: dt.datetime, cooldown_s: float) -> bool:
    """Is an alert at `at` within `cooldown_s` of the previous alert sent for the same rule and subject?

    Measured in event time, so a replay suppresses the same alerts; resolutions are never suppressed.
    """
    if previous is None or cooldown_s <= 0:
        return False
    return dt.timedelta(0) <= at - previous < dt.timedelta(seconds=cooldown_s)
