"""Feature windows kept by the stream worker: the latest values per symbol or series, revisions applied.

Pure state, no Kafka: `update` says which window (if any) is now ready to be scored.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", str, int)  # sortable time keys: ISO dates / ISO instants as strings, or integers


@dataclass
class History(Generic[K]):
    """A bounded, time-sorted history of one key. Equal times replace (a revision or a redelivery)."""

    keep: int
    times: list[K] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def update(self, t: K, value: float) -> str:
        """Apply one value; returns 'new' (newest time), 'revised-latest', 'revised', 'duplicate' or 'too-old'."""
        if not self.times or t > self.times[-1]:
            self.times.append(t)
            self.values.append(value)
            if len(self.times) > self.keep:
                del self.times[0], self.values[0]
            return "new"
        i = bisect.bisect_left(self.times, t)
        if i < len(self.times) and self.times[i] == t:
            if self.values[i] == value:
                return "duplicate"
            self.values[i] = value
            return "revised-latest" if i == len(self.times) - 1 else "revised"
        if i == 0 and len(self.times) >= self.keep:
            return "too-old"
        self.times.insert(i, t)
        self.values.insert(i, value)
        if len(self.times) > self.keep:
            del self.times[0], self.values[0]
        return "revised"

    def window(self, width: int) -> list[float] | None:
        """The last `width` values, or None while the history is shorter."""
        return self.values[-width:] if len(self.values) >= width else None

    def previous_time(self) -> K | None:
        return self.times[-2] if len(self.times) >= 2 else None
