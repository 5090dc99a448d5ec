"""Long batch work shows progress on a terminal (rich), and prints nothing extra into pipes."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from turnpoint.cli.batch import PROGRESS_BYTES


def _big_readings(path: Path) -> None:
    with path.open("w") as fh:
        fh.write("series,ts,value\n")
        i = 0
        while fh.tell() < PROGRESS_BYTES:
            fh.write(f"plant{i % 7}/temp,2025-01-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}Z,{i % 97}.5\n")
            i += 1


def _on_a_terminal(argv: list[str]) -> str:
    main, child = pty.openpty()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=child)
    os.close(child)
    out = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        out += chunk
    proc.wait(60)
    os.close(main)
    assert proc.returncode == 0, out
    return out.decode(errors="replace")


def test_a_big_input_shows_its_stages_on_a_terminal_and_not_in_a_pipe(tmp_path: Path) -> None:
    _big_readings(tmp_path / "big.csv")
    argv = [sys.executable, "-m", "turnpoint.cli.main", "batch", "stats", "-i", str(tmp_path / "big.csv"),
            "-o", str(tmp_path / "stats.csv")]
    shown = _on_a_terminal(argv)
    assert "reading readings (big.csv)" in shown and "calendar statistics" in shown, shown[-2000:]
    piped = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    assert "reading readings" not in piped.stderr and piped.stderr.startswith("stats: ")
