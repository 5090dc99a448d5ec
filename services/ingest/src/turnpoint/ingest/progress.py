"""A rich progress bar on stderr for file commands, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def count_lines(path: Path) -> int:
    """Data rows (lines minus the header), counted on bytes: fast enough for long backfills."""
    n = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
    return max(n - 1, 0)


@contextmanager
def file_progress(path: Path, label: str, enabled: bool | None = None) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking rows read so far, or None when stderr is not a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled or not path.is_file():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(f"{label} {path.name}", total=count_lines(path))
        yield lambda rows: bar.update(task, completed=rows)
