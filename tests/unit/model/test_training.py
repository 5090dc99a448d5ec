from __future__ import annotations

import numpy as np
import pytest
from turnpoint.model import data, synthetic, training
from turnpoint.model.errors import TrainingError


@pytest.fixture(scope="module")
def random_walk(tmp_path_factory: pytest.TempPathFactory) -> list[data.Series]:
    path = tmp_path_factory.mktemp("rw") / "bars.csv"
    return data.load_bars(synthetic.write_csv(path, synthetic.bars_rows(6, 260, seed=5, phi=0.0)))


def test_forecaster_card_is_honest_about_baselines(random_walk: list[data.Series]) -> None:
    trained = training.train_forecaster(random_walk, epochs=60, source="rw")
    card = trained.card
    bt = card["backtest"]
    for name, base in bt["baselines"].items():
        assert bt["beats"][name] == (bt["model"]["mape_pct"] < base["mape_pct"])
    verdict = "beats the last value" if bt["beats"]["last_value"] else "does NOT beat the last value"
    assert verdict in card["summary"]
    assert card["training_data"]["test"]["from"] > card["training_data"]["train"]["to"]
    assert card["window"] == 20 and card["horizon"] == 5
    assert len(bt["model"]["mape_pct_by_horizon"]) == 5


def test_last_value_metrics_are_recomputable(random_walk: list[data.Series]) -> None:
    card = training.train_forecaster(random_walk, hidden=0, source="rw").card
    wins = data.windows(random_walk, 21, 5)
    cutoff = np.datetime64(card["training_data"]["test"]["from"])
    test = wins.asof >= cutoff
    last = wins.X[test][:, -1:]
    mape = float(np.mean(np.abs(last - wins.Y[test]) / wins.Y[test]) * 100)
    assert card["backtest"]["baselines"]["last_value"]["mape_pct"] == pytest.approx(mape)


def test_seasonal_naive_repeats_last_week() -> None:
    closes = np.arange(1.0, 22.0)[None, :]  # positions 0..20, last = 21.0
    np.testing.assert_array_equal(training.seasonal_naive(closes, 5), [[17.0, 18.0, 19.0, 20.0, 21.0]])


def test_anomaly_scorer_finds_injected_spikes(tmp_path) -> None:
    path = synthetic.write_csv(tmp_path / "r.csv", synthetic.readings_rows(2, 24 * 50, seed=2))
    card = training.train_anomaly(data.load_readings(path), source="r").card
    bt = card["backtest"]
    assert bt["model"]["recall"] > 0.5
    assert bt["beats"]["spec_outlier_rule"] == (bt["model"]["f1"] > bt["baselines"]["spec_outlier_rule"]["f1"])
    assert card["threshold"] > 0
    assert ("beats the rule" in card["summary"]) == bt["beats"]["spec_outlier_rule"]


def test_too_little_history_is_a_clear_error(tmp_path) -> None:
    path = synthetic.write_csv(tmp_path / "b.csv", synthetic.bars_rows(1, 20))
    with pytest.raises(TrainingError, match="longer history"):
        training.train_forecaster(data.load_bars(path))


def test_bad_csv_rows_name_the_line(tmp_path) -> None:
    path = tmp_path / "r.csv"
    path.write_text("series,ts,value\ns,2024-01-01T00:00:00Z,1\ns,2024-01-01T01:00:00,2\n")
    with pytest.raises(TrainingError, match=r"r.csv:3: .*no UTC offset"):
        data.load_readings(path)


def test_later_bar_rows_revise_earlier_ones(tmp_path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("symbol,date,close\nA,2024-01-02,10\nA,2024-01-03,11\nA,2024-01-02,12\n")
    (s,) = data.load_bars(path)
    assert s.values.tolist() == [12.0, 11.0]
