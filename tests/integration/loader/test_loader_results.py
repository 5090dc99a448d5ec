"""Every result topic into its table; tombstones; dead letters for malformed and rejected rows; replays."""

from __future__ import annotations

from typing import Any

from loader_helpers import dead_letters, query, running, wait_for  # type: ignore[import-not-found]
from turnpoint.core import topics


def price(symbol: str, day: int, close: float, high: float | None = None) -> dict[str, Any]:
    d = f"2024-02-{day:02d}"
    h = close + 1 if high is None else high
    return {"symbol": symbol, "interval": "day", "start": d, "end": d, "open": close, "high": h,
            "low": close - 1, "close": close, "volume": 1.0, "bars": 1}


def leg(day: int, *, deleted: bool = False, pct: float = 10.0) -> dict[str, Any]:
    return {"symbol": "LEG", "gtype": "close", "start_date": f"2024-02-{day:02d}", "start_value": 10.0,
            "end_date": f"2024-02-{day + 2:02d}", "end_value": 11.0, "bars": 2, "change": 1.0, "pct": pct,
            "direction": "up", "deleted": deleted}


STATE = {"symbol": "LEG", "gtype": "close", "threshold": 0.05, "direction": "down", "pivot_date": "2024-02-03",
         "pivot_value": 11.0, "extreme_date": "2024-02-05", "extreme_value": 9.0, "last_date": "2024-02-06",
         "last_value": 9.5, "bars_since_pivot": 3, "pct_from_pivot": -13.6, "pct_from_extreme": 5.5}
STATS = [
    {"series": "s/1", "period": "day", "start": "2024-02-01", "weekday": None, "count": 3, "mean": 2.0, "std": 0.8,
     "min": 1.0, "max": 3.0, "tz": "Asia/Seoul"},
    {"series": "s/1", "period": "month-weekday", "start": "2024-02-01", "weekday": 4, "count": 3, "mean": 2.0,
     "std": 0.8, "min": 1.0, "max": 3.0, "tz": "Asia/Seoul"},
]
OUTLIER = {"series": "s/1", "ts": "2024-02-01T03:00:00+09:00", "value": 9.0, "mean": 2.0, "std": 0.8,
           "direction": "high", "k": 1.5, "window_days": 28}
PREDICTION = {"model": "m", "version": "3", "kind": "forecast", "target": "s/1", "asof": "2024-02-01T00:00:00Z",
              "horizon": 3, "values": [1.0, 2.0, 3.5], "trace_id": "abc"}
SYMBOL = {"symbol": "LEG", "name": "Leg Corp", "market": "KOSPI", "status": "listed", "designations": ["a", "b"]}
JOB = {"job": "transform.rebounds", "status": "ok", "last_success": "2024-02-01T00:00:00Z", "rows": 12, "detail": ""}


def test_every_result_topic_lands_in_its_table(loader_settings: Any, produce: Any, migrated_db: str) -> None:
    from turnpoint.loader.app import bootstrap

    produce(topics.LEGS, [leg(1), leg(3), leg(5)], key="LEG")
    produce(topics.STATES, [STATE], key="LEG")
    produce(topics.STATS, STATS, key="s/1")
    produce(topics.OUTLIERS, [OUTLIER], key="s/1")
    produce(topics.PREDICTIONS, [PREDICTION], key="s/1")
    produce(topics.SYMBOLS, [SYMBOL], key="LEG")
    produce(topics.JOBS, [JOB], key="transform.rebounds")
    produce(topics.READINGS, [{"series": "s/1", "ts": "2024-02-01T00:00:00Z", "value": 1.5, "unit": "C"},
                              {"series": "s/1", "ts": "2024-02-01T00:00:00", "value": 1.5}], key="s/1")
    with running(bootstrap(loader_settings)):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM rebound_leg")[0][0] == 3)
        # a revision withdraws one leg and changes another, in a later message
        produce(topics.LEGS, [leg(3, deleted=True), leg(5, pct=12.5)], key="LEG")
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM rebound_leg")[0][0] == 2)
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM reading")[0][0] == 1)
        dlq = dead_letters(loader_settings.kafka, 1)

    legs = query(migrated_db, "SELECT start_date::text, pct FROM rebound_leg ORDER BY start_date")
    assert legs == [("2024-02-01", 10.0), ("2024-02-05", 12.5)]
    assert query(migrated_db, "SELECT direction, pct_from_pivot FROM rebound_state") == [("down", -13.6)]
    assert query(migrated_db, "SELECT period, weekday, tz FROM calendar_stat ORDER BY period") == [
        ("day", 0, "Asia/Seoul"), ("month-weekday", 4, "Asia/Seoul")]
    assert query(migrated_db, "SELECT ts = '2024-01-31T18:00:00Z'::timestamptz, direction FROM outlier") == [(True, "high")]
    assert query(migrated_db, 'SELECT "values", trace_id FROM prediction') == [([1.0, 2.0, 3.5], "abc")]
    assert query(migrated_db, "SELECT name, designations FROM symbol") == [("Leg Corp", ["a", "b"])]
    assert query(migrated_db, "SELECT rows FROM job_info WHERE job = 'transform.rebounds'") == [(12,)]
    fresh = {r[0] for r in query(migrated_db, "SELECT job FROM job_info WHERE job LIKE 'loader.%'")}
    assert fresh >= {"loader.rebound_leg", "loader.reading", "loader.prediction", "loader.symbol"}
    naive = [d for d in dlq if d["source_topic"].endswith(topics.READINGS.name)]
    assert naive and naive[0]["reason"] == "invalid" and "ts" in naive[0]["detail"]
    assert naive[0]["offset"] == 0 and '"2024-02-01T00:00:00"' in naive[0]["payload"]


def test_rejected_rows_are_isolated_and_dead_lettered(loader_settings: Any, produce: Any, migrated_db: str) -> None:
    from turnpoint.loader.app import bootstrap

    good = [price("ISO", d, 10.0 + d) for d in range(1, 29)]
    bad_check = price("ISO", 29, 10.0, high=1.0)  # high < low: a CHECK constraint of the table
    nul = {**price("ISO", 27, 5.0), "symbol": "IS\u0000O"}  # PostgreSQL text cannot hold NUL
    produce(topics.PRICES, [*good[:10], bad_check, *good[10:]], key="ISO", partition=0)
    produce(topics.PRICES, [nul], key="ISO", partition=0)
    produce(topics.PRICES, b"\xff\xfe not json", key="ISO", partition=0)
    with running(bootstrap(loader_settings)):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM price")[0][0] == 28)
        dlq = dead_letters(loader_settings.kafka, 3)
    by_reason = {d["reason"]: d for d in dlq}
    assert set(by_reason) == {"constraint-violation", "rejected-by-database", "unparseable"}
    check = by_reason["constraint-violation"]
    assert "check constraint" in check["detail"] and check["offset"] == 0 and check["partition"] == 0
    assert '"high":1.0' in check["payload"] and "item 10" in check["detail"]
    assert by_reason["rejected-by-database"]["offset"] == 1
    assert by_reason["unparseable"]["payload_encoding"] == "base64"


def test_replays_leave_identical_rows(loader_settings: Any, produce: Any, migrated_db: str, unique: str) -> None:
    from turnpoint.loader.app import bootstrap

    produce(topics.PRICES, [price("REP", d, 20.0 + d) for d in range(1, 21)], key="REP")
    produce(topics.LEGS, [leg(1), leg(3, deleted=True)], key="LEG")
    snapshot = "SELECT symbol, start, close, updated_at FROM price ORDER BY 1, 2"
    with running(bootstrap(loader_settings)):
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM price")[0][0] == 20)
        wait_for(lambda: query(migrated_db, "SELECT count(*) FROM rebound_leg")[0][0] == 1)
    first = query(migrated_db, snapshot)
    legs = query(migrated_db, "SELECT * FROM rebound_leg")
    # the same messages again, through a new consumer group (a full replay of the topics)
    replay = loader_settings.model_copy(
        update={"loader": loader_settings.loader.model_copy(update={"group_id": f"replay-{unique}"})})
    app = bootstrap(replay)
    with running(app):
        wait_for(lambda: app.loader.flushes >= 1 and app.loader.state == "running")
    assert query(migrated_db, snapshot) == first  # updated_at too: unchanged rows are not rewritten
    assert query(migrated_db, "SELECT * FROM rebound_leg") == legs
