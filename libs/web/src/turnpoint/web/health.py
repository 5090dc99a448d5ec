"""Liveness and readiness, the same in every service.

`/healthz` (liveness) says the process answers: it never looks at the database or the broker, so an
outage of a dependency never makes Kubernetes restart a healthy process. `/readyz` (readiness) says its
dependencies answer: 200 when they do, 503 otherwise, with what was checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Check = Callable[[], tuple[bool, dict[str, Any]]]
"""A readiness check: (ready, details)."""


def liveness(service: str, **detail: Any) -> dict[str, Any]:
    return {"status": "ok", "service": service, **detail}


def readiness(service: str, ok: bool, detail: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) of a readiness answer."""
    return (200 if ok else 503), {"status": "ok" if ok else "unavailable", "service": service, **detail}
