"""Historical forecasts over a bars file: what the served forecaster would have said as of every day.

The stream forecasts "as of now" only (the newest bar of each symbol in a message), so a backfill does not
flood the topics, the database and the inference log with one forecast per historical day. A backtest or
a chart of past forecasts comes from here instead: `turnpoint model backtest --input BARS.csv --output F.csv`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from turnpoint.model.data import Series
from turnpoint.model.predictor import check_windows
from turnpoint.model.runtime import LoadedModel

CHUNK = 4096  # windows per onnxruntime call


@dataclass
class Summary:
    forecasts: int = 0
    scored: int = 0  # forecasts whose next close is in the file
    abs_error: float = 0.0  # of h1 against the next close
    naive_abs_error: float = 0.0  # of the last close (the "no change" baseline) against the next close

    @property
    def mae(self) -> float:
        return self.abs_error / self.scored if self.scored else math.nan

    @property
    def naive_mae(self) -> float:
        return self.naive_abs_error / self.scored if self.scored else math.nan


def columns(horizon: int) -> list[str]:
    return ["symbol", "asof", "model", "version",
            *(f"h{i}" for i in range(1, horizon + 1)), *(f"actual_h{i}" for i in range(1, horizon + 1))]


def forecasts(series: Series, model: LoadedModel) -> Iterable[tuple[int, list[float]]]:
    """(index of the as-of day, forecast) for every day of the series with a full window."""
    width = model.width
    ends = np.arange(width - 1, len(series.values))
    windows = np.lib.stride_tricks.sliding_window_view(series.values, width)
    for start in range(0, len(ends), CHUNK):
        part = ends[start : start + CHUNK]
        x = check_windows(windows[part - width + 1], width, positive=True, field="close")
        yield from zip(part.tolist(), model.run(x)["forecast"].astype(float).tolist(), strict=True)


def run(bars: list[Series], model: LoadedModel, output: Path,
        progress: Callable[[int], None] | None = None) -> Summary:
    """Write every symbol's historical forecasts to `output` (sorted by symbol, asof); summarise h1
    against the next close, beside the last-close ("no change") baseline."""
    summary = Summary()
    horizon = model.horizon
    with output.open("w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns(horizon))
        for s in bars:
            closes = s.values.tolist()
            for end, values in forecasts(s, model):
                actual = [repr(closes[end + k]) if end + k < len(closes) else "" for k in range(1, horizon + 1)]
                writer.writerow([s.name, str(s.times[end]), model.name, model.version, *map(repr, values),
                                 *actual])
                summary.forecasts += 1
                if end + 1 < len(closes):
                    summary.scored += 1
                    summary.abs_error += abs(values[0] - closes[end + 1])
                    summary.naive_abs_error += abs(closes[end] - closes[end + 1])
            if progress is not None:
                progress(1)
    return summary
