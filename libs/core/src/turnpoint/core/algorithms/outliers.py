"""The outlier rule of SPEC section 3, on a reference summary.

The reference of a reading on local day ``D`` is every reading of the series on days ``D-W .. D-1``;
callers build it by merging day summaries (:mod:`moments`). Below ``min_count`` readings nothing is judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from turnpoint.core.algorithms.moments import Summary, std


@dataclass(frozen=True, slots=True)
class OutlierRule:
    window_days: int = 28
    min_count: int = 30
    k: float = 1.5

    def __post_init__(self) -> None:
        if self.window_days < 1 or self.min_count < 1 or not self.k >= 0:
            msg = "outlier rule needs window_days >= 1, min_count >= 1 and k >= 0"
            raise ValueError(msg)

    def judge(self, value: float, ref: Summary) -> tuple[Literal["high", "low"], float, float] | None:
        """``(direction, mean, std)`` if ``value`` is an outlier against ``ref``, else None."""
        if ref[0] < self.min_count:
            return None
        mean = ref[1]
        sd = std(ref)
        if value > mean + self.k * sd:
            return "high", mean, sd
        if value < mean - self.k * sd:
            return "low", mean, sd
        return None
