"""Bad rows, summaries and usage errors of `turnpoint batch`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from turnpoint.cli.batch import app

pytestmark = pytest.mark.unit


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stderr


def test_rebounds_reports_bad_rows_with_line_numbers(tmp_path: Path) -> None:
    src = tmp_path / "bars.csv"
    src.write_text(
        "symbol,date,open,high,low,close,volume\n"
        "AAA,2024-01-01,10,11,9,10,100\n"
        "AAA,2024-01-02,abc,11,9,10,100\n"   # line 3: not a number
        "AAA,2024-01-03,10,11,9,0,100\n"     # line 4: non-positive
        "AAA,2024-01-04,10,8,9,10,100\n"     # line 5: high < low
        "AAA,2024-01-05,10,11,9\n"           # line 6: missing fields
        "AAA,2024-01-06,11,12,10,12,100\n"
        "AAA,2024-01-07,11,12,10,11,100\n"
        "AAA,2024-01-07,11,12,8,9,100\n"     # revision of line 8
    )
    out = tmp_path / "legs.csv"
    code, err = invoke("rebounds", "--input", str(src), "--output", str(out), "--gtype", "close")
    assert code == 0, err
    for line in (3, 4, 5, 6):
        assert f"{src}:{line}: " in err
    assert "4 bad" in err and "1 revisions" in err and "8 rows read" in err
    rows = list(csv.DictReader(out.open()))
    assert {r["gtype"] for r in rows} == {"close"}
    assert [(r["start_date"], r["end_date"], r["direction"]) for r in rows] == [("2024-01-01", "2024-01-06", "up")]


def test_readings_bad_rows_and_summary(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text(
        "series,ts,value\n"
        "a/b,2025-01-01T00:00:00Z,1.5\n"
        "a/b,2025-01-01T00:00:00,1.5\n"          # naive
        f"{'x' * 201},2025-01-01T00:00:00Z,1\n"  # series too long
        "a/b,2025-01-01T01:00:00+09:00,nan\n"    # not finite
        "a/b,2025-01-01T00:00:00+00:00,1.5\n"    # redelivery
        "a/b,2025-01-01T09:00:00+09:00,2.5\n"    # same instant: replaces
        ",2025-01-01T00:00:00Z,1\n"              # empty series
    )
    out = tmp_path / "s.csv"
    code, err = invoke("stats", "--input", str(src), "--output", str(out))
    assert code == 0, err
    for line in (3, 4, 5, 8):
        assert f"{src}:{line}: " in err
    assert "4 bad" in err and "1 duplicates" in err and "1 replaced" in err
    day = next(r for r in csv.DictReader(out.open()) if r["period"] == "day")
    assert (day["count"], day["mean"], day["weekday"]) == ("1", "2.5", "")
    code, err = invoke("outliers", "--input", str(src), "--output", str(tmp_path / "o.csv"), "--k", "0")
    assert code == 0 and "4 bad" in err


@pytest.mark.parametrize("command", ["rebounds", "stats", "outliers"])
def test_missing_file_and_wrong_header_fail(command: str, tmp_path: Path) -> None:
    code, err = invoke(command, "--input", str(tmp_path / "nope.csv"), "--output", str(tmp_path / "o.csv"))
    assert code != 0 and "no such file" in err
    bad = tmp_path / "bad.csv"
    bad.write_text("foo,bar\n1,2\n")
    code, err = invoke(command, "--input", str(bad), "--output", str(tmp_path / "o.csv"))
    assert code != 0 and "lacks column" in err


def test_unknown_timezone_and_gtype_fail(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("series,ts,value\n")
    code, err = invoke("stats", "--input", str(src), "--output", str(tmp_path / "o.csv"), "--tz", "Mars/Base")
    assert code != 0 and "unknown time zone" in err
    code, err = invoke("rebounds", "--input", str(src), "--output", str(tmp_path / "o.csv"), "--gtype", "volume")
    assert code != 0 and "unknown --gtype" in err


@pytest.mark.parametrize("command", ["rebounds", "stats", "outliers"])
def test_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "--input" in result.output and "--output" in result.output
