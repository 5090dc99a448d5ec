"""The database side of the loader: the `Sink` protocol both dialects implement, and row isolation.

A sink writes one flush as one transaction: `begin`, any number of `upsert`/`delete` calls, `record_jobs`,
`commit`. `upsert` and `delete` run inside a savepoint of their own, so a `RowRejected` leaves the
transaction usable; `isolate` then splits the rows in halves until the rejected ones are alone, as the
JDBC sinks of Kafka Connect do. `DatabaseUnavailable` means the whole transaction is lost: the caller
resets the sink and retries the flush.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from turnpoint.loader.errors import RowRejected
from turnpoint.loader.tables import Row, TableSpec


class Sink(Protocol):
    def begin(self) -> None:
        """Connect if needed and start a transaction; raises DatabaseUnavailable."""

    def upsert(self, spec: TableSpec, rows: Sequence[Row]) -> None:
        """Insert or update rows with distinct keys; raises RowRejected (transaction still usable)."""

    def delete(self, spec: TableSpec, keys: Sequence[tuple[Any, ...]]) -> None:
        """Delete rows by key; missing keys are no-ops."""

    def newest(self, spec: TableSpec, series: Sequence[str]) -> dict[str, dt.datetime]:
        """The newest time stored per series of a table under the allowed lateness (spec.horizon), aware;
        a series without rows is absent. Read inside the flush's transaction."""

    def record_jobs(self, written: Mapping[str, int]) -> None:
        """Mark `loader.<table>` fresh in job_info with the rows just written."""

    def commit(self) -> None: ...

    def reset(self) -> None:
        """Drop the connection after a failure; the next `begin` reconnects."""

    def ping(self) -> bool: ...

    def close(self) -> None: ...


def isolate(count: int, attempt: Callable[[int, int], None]) -> list[tuple[int, RowRejected]]:
    """Write rows [0, count) through `attempt(lo, hi)`, splitting failed ranges until single rows fail.

    Returns the index and error of every rejected row. With k bad rows among n this costs about
    2·k·log2(n) extra statements; a clean batch costs one.
    """
    rejected: list[tuple[int, RowRejected]] = []
    stack = [(0, count)] if count else []
    while stack:
        lo, hi = stack.pop()
        try:
            attempt(lo, hi)
        except RowRejected as exc:
            if hi - lo == 1:
                rejected.append((lo, exc))
                continue
            mid = (lo + hi) // 2
            stack.append((mid, hi))
            stack.append((lo, mid))
    rejected.sort(key=lambda r: r[0])
    return rejected
