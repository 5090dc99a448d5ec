"""Bringing an empty embedded broker back to what the pipeline owes: topics, history, accepted records.

Run by `turnpoint dev up` after it started a broker and by the supervisor after it restarted a dead one,
always before any service that consumes or ingests runs:

1. `ensure_topics`: the catalogue's topics with their partition counts (never auto-created ones);
2. the transform's history from PostgreSQL (`turnpoint.cli.rebuild.republish`);
3. the ingest journal: records the ingest had accepted that PostgreSQL does not hold yet
   (`turnpoint.ingest.journal.resend`), after the history so that they apply on top of it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from turnpoint.core.kafka import ensure_topics
from turnpoint.core.settings import KafkaSettings, TurnpointSettings


@dataclass
class Restored:
    topics_created: int
    rebuild: Any
    journal: Any
    seconds: float

    def line(self) -> str:
        parts = [self.rebuild.line()] if self.rebuild is not None else []
        if self.journal is not None:
            parts.append(self.journal.line())
        return "; ".join(parts) or "nothing to restore"


def restore(bootstrap: str, database_url: str, journal_dir: Path | None, console: Console | None = None) -> Restored:
    """Topics, then PostgreSQL's history, then the journal's unloaded records, onto the broker at `bootstrap`."""
    t0 = time.monotonic()
    base = TurnpointSettings()
    kafka: KafkaSettings = base.kafka.model_copy(update={"bootstrap_servers": bootstrap})
    created = ensure_topics(kafka)
    rebuild = journal = None
    with _progress(console) as progress:
        tasks: dict[str, Any] = {}

        def show(kind: str, done: int, total: int) -> None:
            if progress is None:
                return
            if kind not in tasks:
                tasks[kind] = progress.add_task(f"re-publishing {kind}", total=max(total, 1))
            progress.update(tasks[kind], completed=done, total=max(total, 1))

        from turnpoint.cli.rebuild import republish
        from turnpoint.transform.settings import TransformSettings

        transform = TransformSettings()
        threshold = transform.transform.threshold
        rebuild = republish(kafka, database_url, threshold=threshold, progress=show)
        if journal_dir is not None:
            from turnpoint.ingest.journal import resend

            journal = resend(kafka, database_url, journal_dir, progress=show, lateness_days=transform.lateness_days,
                             future_skew_days=transform.future_skew_days)
    return Restored(len(created), rebuild, journal, time.monotonic() - t0)


class _NoProgress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _progress(console: Console | None) -> Any:
    if console is None:
        return _NoProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)
