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


SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.parametrize(("sample", "symbol", "first"), [
    ("AAPL.csv", "AAPL", ("2024-01-02", "185.639999")),   # Yahoo export: capitalised columns, Adj Close
    ("005930_krx.csv", "005930", ("2024-01-02", "78200.0")),  # KRX export: CP949, 1,234 numbers, newest first
])
def test_reads_every_market_file_ingest_reads(sample: str, symbol: str, first: tuple[str, str], tmp_path: Path) -> None:
    out = tmp_path / "legs.csv"
    code, err = invoke("rebounds", "--file", str(SAMPLES / sample), "-o", str(out), "--gtype", "close", "-g", "low")
    assert code == 0, err
    rows = list(csv.DictReader(out.open()))
    assert rows and {r["symbol"] for r in rows} == {symbol}
    assert (rows[0]["start_date"], rows[0]["start_value"]) == first
    assert "0 bad" in err


def test_input_aliases_and_readings_aliases(tmp_path: Path) -> None:
    src = tmp_path / "r.csv"
    src.write_text("Series,Timestamp,Value,unit\na,2025-01-01T00:00:00Z,1.5,degC\n")
    for flag in ("--input", "--file", "-i"):
        code, err = invoke("stats", flag, str(src), "-o", str(tmp_path / "s.csv"))
        assert code == 0 and "1 rows read, 0 bad" in err, err


def test_max_rejected(tmp_path: Path) -> None:
    src = SAMPLES / "bad_bars.csv"  # 5 bad rows of 6
    out = tmp_path / "legs.csv"
    code, err = invoke("rebounds", "-i", str(src), "-o", str(out), "--max-rejected", "5")
    assert code == 0 and out.exists(), err
    out.unlink()
    code, err = invoke("rebounds", "-i", str(src), "-o", str(out), "--max-rejected", "4")
    assert code == 1 and "more than --max-rejected 4" in err and not out.exists()
    assert f"{src}:3: bad-date" in err  # the bad rows are still named, with their lines
    readings = tmp_path / "r.csv"
    readings.write_text("series,ts,value\na,2025-01-01T00:00:00,1\na,2025-01-01T00:00:00Z,1\n")
    code, err = invoke("outliers", "-i", str(readings), "-o", str(tmp_path / "o.csv"), "--max-rejected", "0")
    assert code == 1 and f"{readings}:2: no-offset" in err


@pytest.mark.parametrize("command", ["rebounds", "stats", "outliers"])
def test_bad_output_paths_are_errors_not_tracebacks(command: str, tmp_path: Path) -> None:
    src = SAMPLES / ("bars.csv" if command == "rebounds" else "readings.csv")
    result = CliRunner().invoke(app, [command, "-i", str(src), "-o", str(tmp_path)])
    assert (result.exit_code == 2 and "is a directory" in result.stderr and result.exception is None) or \
        isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    code, err = invoke(command, "-i", str(src), "-o", str(tmp_path / "missing" / "o.csv"))
    assert code == 2 and "does not exist" in err


def test_undecodable_file_is_refused_with_its_name(tmp_path: Path) -> None:
    src = tmp_path / "b.csv"
    src.write_bytes(b"symbol,date,open,high,low,close,volume\n" + b"A,2024-01-02,1,1,1,1,1\n" * 70000 + b"\xff\xfe\xff,\n")
    code, err = invoke("rebounds", "-i", str(src), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and f"{src}: not UTF-8 or CP949 text" in err
