"""`turnpoint ingest market|readings|symbols --file` against the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
from turnpoint.core import topics
from turnpoint.core.contracts import Bar
from turnpoint.ingest.files import publish_market_file, publish_readings_file, publish_symbols_file

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_market_bars_batched_per_symbol_in_date_order(ingest_settings, topic_reader, tmp_path: Path) -> None:
    f = tmp_path / "many.csv"
    lines = ["symbol,date,open,high,low,close,volume"]
    # 1200 days of A in reverse order plus a revision of the first day, and B interleaved
    for i in range(1200, 0, -1):
        d = f"{2000 + i // 360:04d}-{1 + (i // 30) % 12:02d}-{1 + i % 28:02d}"
        lines.append(f"A,{d},10,11,9,10,{i}")
        if i % 100 == 0:
            lines.append(f"B,{d},10,11,9,10,{i}")
    lines.append("A,2003-05-01,10,12,9,11,1")  # duplicate date: a revision sent after the original
    f.write_text("\n".join(lines) + "\n")
    summary = publish_market_file(ingest_settings, f)
    assert summary.ok and summary.rejected == 0
    assert summary.published == 1200 + 12 + 1
    msgs = topic_reader(ingest_settings.kafka, topics.BARS.full_name(ingest_settings.kafka.topic_prefix), 1213)
    by_key: dict[str, list[dict]] = {}
    for key, items in msgs:
        assert len(items) <= 500
        assert {it["symbol"] for it in items} == {key}
        by_key.setdefault(key, []).extend(items)
    assert len(by_key["A"]) == 1201 and len(by_key["B"]) == 12
    dates = [it["date"] for it in by_key["A"]]
    assert dates == sorted(dates)
    dup = [it for it in by_key["A"] if it["date"] == "2003-05-01"]
    assert [it["close"] for it in dup][-1] == 11.0  # the revision stays after the original
    for it in by_key["A"][:5]:
        Bar.model_validate(it)


def test_rejected_rows_go_to_dead_letter_topic(ingest_settings, topic_reader) -> None:
    summary = publish_market_file(ingest_settings, SAMPLES / "bad_bars.csv")
    assert (summary.published, summary.rejected) == (1, 5)
    dlq = f"{ingest_settings.kafka.topic_prefix}{topics.BARS.dead_letter}"
    letters = [it for _k, items in topic_reader(ingest_settings.kafka, dlq, 5) for it in items]
    assert sorted(it["reason"] for it in letters) == ["bad-date", "bad-price", "bad-symbol", "inconsistent", "short-row"]
    bad_date = next(it for it in letters if it["reason"] == "bad-date")
    assert bad_date["detail"].endswith("bad_bars.csv:3: date '2024-13-01' is not a date such as 2024-01-02")
    assert bad_date["payload"] == "005930,2024-13-01,78500,78800,77000,77000,21753644"


def test_daily_mode_resends_only_last_days(ingest_settings) -> None:
    summary = publish_market_file(ingest_settings, SAMPLES / "AAPL.csv", last_days=5)
    assert (summary.published, summary.skipped) == (3, 2)  # 2024-01-04 .. 2024-01-08


def test_readings_and_symbols(ingest_settings, topic_reader) -> None:
    s = publish_readings_file(ingest_settings, SAMPLES / "readings.csv")
    assert s.ok and s.published == 5 and s.keys == 2
    msgs = topic_reader(ingest_settings.kafka, topics.READINGS.full_name(ingest_settings.kafka.topic_prefix), 5)
    assert {k for k, _ in msgs} == {"plant1/boiler/temp", "plant1/boiler/pressure"}
    y = publish_symbols_file(ingest_settings, SAMPLES / "symbols.csv")
    assert y.ok and y.published == 4


def test_cli_reports_rejections_and_exits_zero(ingest_settings) -> None:
    env = {**os.environ, "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": ingest_settings.kafka.bootstrap_servers,
           "TURNPOINT_KAFKA__TOPIC_PREFIX": ingest_settings.kafka.topic_prefix}
    cli = [sys.executable, "-m", "turnpoint.cli.main", "ingest", "market", "--file", str(SAMPLES / "bad_bars.csv"), "--json"]
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"{SAMPLES / 'bad_bars.csv'}:4: bad-price" in proc.stderr
    summary = orjson.loads(proc.stdout.strip().splitlines()[-1])
    assert (summary["published"], summary["rejected"], summary["ok"]) == (1, 5, True)


def test_cli_fails_clearly_without_broker(tmp_path: Path) -> None:
    from turnpoint.cli.embedded import free_port

    env = {**os.environ, "TURNPOINT_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}
    cli = [sys.executable, "-m", "turnpoint.cli.main", "ingest", "market", "--file", str(SAMPLES / "bars.csv")]
    proc = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1
    assert "no Kafka broker answered" in proc.stderr


def test_a_big_file_goes_out_in_parts_and_revisions_still_follow_what_they_revise(
    ingest_settings, topic_reader, tmp_path: Path,
) -> None:
    """A file of more than `hold_rows` rows is sent a part at a time (a 5M-bar backfill held 4.5 GB of parsed
    rows in the ingest): every row once, each key's rows in date order within a part, and a row later in the
    file (a revision) sent after the one it revises."""
    f = tmp_path / "big.csv"
    lines = ["symbol,date,open,high,low,close,volume"]
    days = [f"2020-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 26)]  # 300 days
    for day in days:  # ordered by date, then symbol: every part holds every symbol
        for sym in ("P", "Q"):
            lines.append(f"{sym},{day},10,11,9,10,1")
    lines.append("P,2020-01-01,10,12,9,11,2")  # a revision of P's first day, in the last part
    f.write_text("\n".join(lines) + "\n")
    summary = publish_market_file(ingest_settings, f, hold_rows=250)
    assert summary.ok and summary.published == 601 and summary.keys == 2
    assert summary.messages >= 4  # at least two parts, each with a message per symbol
    msgs = topic_reader(ingest_settings.kafka, topics.BARS.full_name(ingest_settings.kafka.topic_prefix), 601)
    by_key: dict[str, list[dict]] = {}
    for key, items in msgs:
        assert {it["symbol"] for it in items} == {key}
        dates = [it["date"] for it in items]
        assert dates == sorted(dates)  # in date order within a message (a part)
        by_key.setdefault(key, []).extend(items)
    assert len(by_key["P"]) == 301 and len(by_key["Q"]) == 300
    assert sorted({it["date"] for it in by_key["Q"]}) == days
    first_day = [it["volume"] for it in by_key["P"] if it["date"] == "2020-01-01"]
    assert first_day == [1.0, 2.0]  # the revision after the original
