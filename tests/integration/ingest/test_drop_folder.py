"""The drop folder: files are ingested once and moved to done/ (with a summary) or failed/ (with a reason)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from turnpoint.ingest.watcher import DropFolderWatcher

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def test_files_ingested_once_and_moved(ingest_settings, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    watcher = DropFolderWatcher(ingest_settings, drop)
    for d in (drop, watcher.done, watcher.failed):
        d.mkdir(parents=True, exist_ok=True)
    shutil.copy(SAMPLES / "AAPL.csv", drop / "AAPL.csv")
    shutil.copy(SAMPLES / "symbols.csv", drop / "symbols.csv")
    (drop / "notes.csv").write_text("a,b\n1,2\n")
    assert watcher.scan() == []  # first sight: wait until the file stops changing
    taken = watcher.scan()
    assert sorted(p.name for p in taken) == ["AAPL.csv", "notes.csv", "symbols.csv"]
    assert watcher.scan() == []  # ingested once
    assert not list(drop.glob("*.csv"))
    done = sorted(p.name for p in watcher.done.iterdir())
    assert any(n.endswith("-AAPL.csv") for n in done) and any(n.endswith("-AAPL.csv.summary.json") for n in done)
    summary = json.loads(next(watcher.done.glob("*AAPL.csv.summary.json")).read_text())
    assert summary["published"] == 5 and summary["ok"]
    reason = next(watcher.failed.glob("*notes.csv.reason.txt")).read_text()
    assert "not a market file" in reason
    assert watcher.processed == {"done": 2, "failed": 1, "retry": 0}
