"""The row-for-row check every fault run ends with (`tests/support/pipeline_check.py`) finds each kind of
difference: a missing row, an extra row, a different value; and passes when the tables hold the batch result.

The database is filled here from the batch outputs themselves (not through the pipeline), then damaged.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support.databases import scratch_database
from support.pipeline_check import (
    Inputs,
    check_database,
    market_rows,
    reading_rows,
    revisions,
    run_batch,
)

from turnpoint.core.dates import trading_days

pytestmark = pytest.mark.integration
TZ = "Asia/Seoul"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _fill_from_batch(url: str, inputs: Inputs, work: Path) -> None:
    """Write what the pipeline owes into the result tables, straight from the batch commands."""
    legs = _rows(run_batch("rebounds", inputs.bars_csv, work / "legs.csv"))
    stats = _rows(run_batch("stats", inputs.readings_csv, work / "stats.csv", "--tz", TZ))
    outliers = _rows(run_batch("outliers", inputs.readings_csv, work / "outliers.csv", "--tz", TZ))
    bars = {(r["symbol"], r["date"]): r for r in _rows(inputs.bars_csv)}  # later rows revise earlier ones
    readings = {(r["series"], r["ts"]): r for r in _rows(inputs.readings_csv)}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close, volume) "
            "VALUES (%(symbol)s, 'day', %(date)s, %(date)s, %(open)s, %(high)s, %(low)s, %(close)s, %(volume)s)",
            list(bars.values()))
        cur.executemany(
            "INSERT INTO rebound_leg (symbol, gtype, start_date, start_value, end_date, end_value, bars, change, "
            "pct, direction) VALUES (%(symbol)s, %(gtype)s, %(start_date)s, %(start_value)s, %(end_date)s, "
            "%(end_value)s, %(bars)s, %(change)s, %(pct)s, %(direction)s)", legs)
        cur.executemany(
            "INSERT INTO calendar_stat (series, period, start, weekday, count, mean, std, min, max) VALUES "
            "(%(series)s, %(period)s, %(start)s, coalesce(nullif(%(weekday)s, '')::smallint, 0), %(count)s, "
            "%(mean)s, %(std)s, %(min)s, %(max)s)", stats)
        cur.executemany(
            "INSERT INTO outlier (series, ts, value, mean, std, direction, k, window_days) VALUES "
            "(%(series)s, %(ts)s, %(value)s, %(mean)s, %(std)s, %(direction)s, 3, 28)", outliers)
        cur.executemany("INSERT INTO reading (series, ts, value) VALUES (%(series)s, %(ts)s, %(value)s)",
                        list(readings.values()))


@pytest.fixture(scope="module")
def template(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Inputs, dict[str, int], Path]]:
    """A database holding the batch result of the inputs, filled once; each test damages a copy of it."""
    from psycopg.conninfo import conninfo_to_dict

    from turnpoint.loader.migrations import migrate

    with scratch_database(database_url, "t_check") as url:
        migrate(url)
        work = tmp_path_factory.mktemp("check")
        rng = random.Random(11)
        inputs = Inputs(work / "inputs")
        bars = market_rows(["AAA", "BBB"], trading_days(dt.date(2024, 1, 1), 120), rng)
        inputs.add_bars(bars)
        inputs.add_bars(revisions(bars, 5, rng))
        inputs.add_readings(reading_rows(["s/1", "s/2"], dt.datetime(2024, 1, 1, tzinfo=dt.UTC), 40, 24, rng))
        _fill_from_batch(url, inputs, work)
        counts = check_database(url, inputs, work / "check", TZ)
        yield str(conninfo_to_dict(url)["dbname"]), inputs, counts, work / "check"


@pytest.fixture
def filled(template: tuple[str, Inputs, dict[str, int], Path],
           database_url: str) -> Iterator[tuple[str, Inputs, Path]]:
    source, inputs, _, batch_dir = template
    with scratch_database(database_url, "t_copy", template=source) as url:
        yield url, inputs, batch_dir


def test_equal_tables_pass_and_every_table_is_compared(template: tuple[str, Inputs, dict[str, int], Path]) -> None:
    _, _, counts, _ = template
    assert counts["price"] == 240  # revisions replace, not add
    assert counts["reading"] == 2 * 40 * 24
    assert counts["rebound_leg"] > 0 and counts["calendar_stat"] > 0 and counts["outlier"] > 0


@pytest.mark.parametrize(("damage", "expected"), [
    ("DELETE FROM rebound_leg WHERE ctid = (SELECT min(ctid) FROM rebound_leg)",
     "rebound_leg: 1 rows missing in the database"),
    ("INSERT INTO price (symbol, interval, start, \"end\", open, high, low, close) "
     "VALUES ('ZZZ', 'day', '2024-01-02', '2024-01-02', 1, 1, 1, 1)",
     "price: 1 rows in the database, not in the batch"),
    ("UPDATE reading SET value = value * (1 + 1e-6) WHERE series = 's/2' AND ts = '2024-01-03T00:00:00Z'",
     "reading: 1 rows different"),
    ("UPDATE calendar_stat SET count = count + 1 WHERE ctid = (SELECT min(ctid) FROM calendar_stat)",
     "calendar_stat: 1 rows different"),
    # a revised bar loaded with its first value: the check wants the last one sent
    ("UPDATE price SET close = close + 0.01 WHERE symbol = 'AAA' AND start = "
     "(SELECT max(start) FROM price WHERE symbol = 'AAA')", "price: 1 rows different"),
])
def test_each_kind_of_difference_is_reported(filled: tuple[str, Inputs, Path], damage: str, expected: str) -> None:
    url, inputs, batch_dir = filled
    with psycopg.connect(url) as conn:
        assert conn.execute(damage).rowcount == 1
    with pytest.raises(AssertionError, match="differs from the batch computation") as failed:
        check_database(url, inputs, batch_dir, TZ)  # the batch outputs are reused
    assert expected in str(failed.value)
    assert str(failed.value).count("\n") == 1  # that difference and nothing else
