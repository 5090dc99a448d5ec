"""`turnpoint model backtest`: one historical forecast per day with a full window, equal to what the
served path (Predictor.forecast, which the stream worker calls) answers for the same window."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
from typer.testing import CliRunner
from turnpoint.core.dates import trading_days
from turnpoint.model.cli import app
from turnpoint.model.predictor import Predictor
from turnpoint.model.registry import Registry
from turnpoint.model.runtime import ModelStore
from turnpoint.model.sinks import InferenceLog, MemorySink

DAYS = trading_days(dt.date(2023, 3, 1), 40)


def _bars(path: Path) -> dict[str, list[float]]:
    rng = np.random.default_rng(5)
    closes = {s: (80 + 20 * i) * np.exp(np.cumsum(rng.normal(0, 0.02, len(DAYS)))) for i, s in enumerate("AB")}
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["symbol", "date", "open", "high", "low", "close", "volume"])
        for s, cs in closes.items():
            for d, c in zip(DAYS, cs, strict=True):
                w.writerow([s, d.isoformat(), c, c, c, c, 1])
    return {s: [float(c) for c in cs] for s, cs in closes.items()}


def test_backtest_forecasts_every_day_like_the_served_model(model_registry: Path, tmp_path: Path) -> None:
    closes = _bars(tmp_path / "bars.csv")
    out = tmp_path / "forecasts.csv"
    result = CliRunner().invoke(app, ["backtest", "--input", str(tmp_path / "bars.csv"), "--output", str(out),
                                      "--registry", str(model_registry)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    store = ModelStore(Registry(model_registry))
    store.refresh()
    model = store.require("forecast")
    per_symbol = len(DAYS) - model.width + 1
    assert [r["symbol"] for r in rows] == ["A"] * per_symbol + ["B"] * per_symbol
    assert rows[0]["asof"] == DAYS[model.width - 1].isoformat() and rows[-1]["asof"] == DAYS[-1].isoformat()
    served = Predictor(store, InferenceLog([MemorySink()]))
    for r in rows[:: 7] + rows[-1:]:
        i = DAYS.index(dt.date.fromisoformat(r["asof"]))
        window = np.array([closes[r["symbol"]][i - model.width + 1 : i + 1]])
        expected = served.forecast([r["symbol"]], [None], window, source="http").values[0]
        assert [float(r[f"h{k}"]) for k in range(1, 6)] == expected
        assert [r[f"actual_h{k}"] for k in range(1, 6)] == [
            repr(closes[r["symbol"]][i + k]) if i + k < len(DAYS) else "" for k in range(1, 6)]
    assert "h1 MAE" in result.output


def test_backtest_names_a_missing_model_and_a_directory_output(tmp_path: Path) -> None:
    _bars(tmp_path / "bars.csv")
    result = CliRunner().invoke(app, ["backtest", "-i", str(tmp_path / "bars.csv"), "-o", str(tmp_path / "f.csv"),
                                      "--registry", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no forecast-close" in result.output
