"""librdkafka's log lines through Python logging: WARNING and above, each distinct line once a minute.

Without a `logger`, librdkafka prints `%3|...|FAIL|...` lines to stderr itself: about a hundred before
the first useful error when the broker is unreachable. Every client turnpoint makes passes
`client_logger()` as its `logger`; lines that differ only in numbers (milliseconds, ports, counts) count
as the same line, and a repeat is shown again, with how many were held back, after `window_s`.
"""

from __future__ import annotations

import logging
import re
import threading
import time

NAME = "turnpoint.librdkafka"
_DIGITS = re.compile(r"\d+")


class Deduplicate(logging.Filter):
    """Let a line through once per `window_s`; the next one shown says how many were suppressed."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self.window_s = window_s
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        shape = _DIGITS.sub("#", record.getMessage())
        now = time.monotonic()
        with self._lock:
            shown, held = self._seen.get(shape, (-1e18, 0))
            if now - shown < self.window_s:
                self._seen[shape] = (shown, held + 1)
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[shape] = (now, 0)
        if held:
            record.msg = f"{record.getMessage()} (and {held} more like it in the last {self.window_s:.0f}s)"
            record.args = None
        return True


_logger: logging.Logger | None = None
_init = threading.Lock()


def client_logger() -> logging.Logger:
    """The logger every confluent-kafka client gets (`{"logger": client_logger()}`)."""
    global _logger
    with _init:
        if _logger is None:
            logger = logging.getLogger(NAME)
            logger.setLevel(logging.WARNING)
            logger.addFilter(Deduplicate())
            _logger = logger
        return _logger
