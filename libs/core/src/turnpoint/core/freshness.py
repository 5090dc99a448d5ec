"""Job freshness beats: the `turnpoint.jobs.v1` records every source publishes (issue #19).

A source calls `beat(job, rows)` where work succeeded (a serial port's readings sent, a file published,
an HTTP token's post accepted, a transform or model batch done). At most one record per job and
`interval_s` comes back, to be produced on `turnpoint.jobs.v1` keyed by the job; the loader keeps the
latest in `job_info` (GET /v1/jobs) and the `stale` alert rule watches `last_success`. A job's published
`last_success` is therefore at most `interval_s` older than its true last success.

Job names: `ingest.serial.<port>`, `ingest.modbus.<port>`, `ingest.file.<kind>`, `ingest.drop.<kind>`,
`ingest.http.<token>`, `transform.<agent>`, `model.<kind>`; the loader writes `loader.<table>` itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from turnpoint.core.contracts import utcnow

DEFAULT_INTERVAL_S = 10.0


def job_item(job: str, rows: int, detail: str = "", status: str = "ok") -> dict[str, Any]:
    """A JobInfo item (turnpoint.core.contracts.JobInfo) whose last success is now."""
    return {"job": job, "status": status, "last_success": utcnow().isoformat().replace("+00:00", "Z"),
            "rows": rows, "detail": detail}


class JobBeats:
    """Counts each job's rows and says when its next freshness record is due (thread-safe)."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._sent: dict[str, float] = {}

    def beat(self, job: str, rows: int = 1, detail: str = "") -> dict[str, Any] | None:
        """Record a success of `job`; return the record to publish when one is due, else None."""
        now = self._clock()
        with self._lock:
            total = self._rows[job] = self._rows.get(job, 0) + rows
            last = self._sent.get(job)
            if last is not None and now - last < self.interval_s:
                return None
            self._sent[job] = now
        return job_item(job, total, detail)
