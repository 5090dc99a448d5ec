"""When the loader hands its collected batch to the writer: the latency side of batching.

A batch is written as soon as the writer is free and the consumer has caught up: the last `consume` came
back with fewer messages than it asked for, so nothing more is queued locally. Under a steady live feed
this is group commit: what arrived while the previous batch was being written is the next batch, and a
reading waits about one write, not a fixed interval. During a backfill the consumer's queue stays full, so
batches still grow to `batch_size` (the size rule is the caller's). `interval_s` stays the bound on how
long a row waits while the queue keeps delivering. `linger_s` is how long one `consume` waits for more
while the batch is not empty and the writer is free: the records produced together (one serial read is an
envelope per series) arrive together.

Pure: the caller passes the time (`time.monotonic()` in the service, a fake clock in tests).
"""

from __future__ import annotations

from dataclasses import dataclass

_IDLE_POLL_S = 0.2  # nothing collected, nothing being written: block this long for the first message
_BUSY_POLL_S = 0.02  # a write in flight: notice soon that it finished


@dataclass(slots=True)
class FlushTiming:
    interval_s: float
    linger_s: float

    def due(self, *, now: float, first_at: float | None, writer_busy: bool, caught_up: bool) -> bool:
        """Whether the batch whose first message arrived at `first_at` (None: empty) goes to the writer now."""
        if first_at is None:
            return False
        if now - first_at >= self.interval_s:
            return True
        return caught_up and not writer_busy

    def timeout(self, *, now: float, first_at: float | None, writer_busy: bool) -> float:
        """How long the next `consume` may wait."""
        poll = _BUSY_POLL_S if writer_busy else _IDLE_POLL_S
        if first_at is None:
            return poll
        if not writer_busy:
            poll = self.linger_s
        return max(0.0, min(poll, first_at + self.interval_s - now))
