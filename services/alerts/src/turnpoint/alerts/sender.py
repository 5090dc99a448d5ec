"""One webhook POST: JSON body, `Idempotency-Key: <id>`, the rule's timeout; 2xx means delivered."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson

from turnpoint.core.alerts.delivery import body
from turnpoint.core.alerts.model import Alert
from turnpoint.core.alerts.rules import Rule


@dataclass(frozen=True, slots=True)
class Response:
    ok: bool
    code: int | None
    error: str | None
    text: str = ""


class Sender:
    def __init__(self, max_connections: int = 64) -> None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.client = httpx.Client(limits=limits, follow_redirects=False)

    def send(self, rule: Rule, alert: Alert) -> Response:
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert.id,
                   "User-Agent": "turnpoint-alerts/0.1"}
        try:
            r = self.client.post(rule.webhook, content=orjson.dumps(body(alert, rule.format)), headers=headers,
                                 timeout=rule.timeout_s)
        except httpx.HTTPError as exc:
            return Response(False, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
        if 200 <= r.status_code < 300:
            return Response(True, r.status_code, None, r.text[:2000])
        return Response(False, r.status_code, f"HTTP {r.status_code}: {r.text[:300]}", r.text[:2000])

    def close(self) -> None:
        self.client.close()
