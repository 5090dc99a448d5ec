"""`turnpoint transform ...`: run the Faust worker."""

from __future__ import annotations

import gc

import typer

app = typer.Typer(no_args_is_help=True, help="Faust stream workers: statistics, outliers, rebounds.")


@app.command()
def worker(
    loglevel: str = typer.Option("warn", "--loglevel", "-l", help="Faust log level: crit, error, warn, info, debug."),
) -> None:
    """Run one transform worker (scale out by running more; each takes a share of the partitions)."""
    from turnpoint.core.observability import configure_logging
    from turnpoint.transform.app import build_app
    from turnpoint.transform.settings import TransformSettings

    settings = TransformSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    settings.transform.data_dir.mkdir(parents=True, exist_ok=True)
    faust_app = build_app(settings)
    import logging

    from faust.worker import Worker
    from mode.utils.logging import level_number

    for name in ("faust", "mode", "aiokafka"):  # --loglevel is the libraries' level; ours is TURNPOINT_LOG_LEVEL
        logging.getLogger(name).setLevel(level_number(loglevel))
    # Worker installs SIGTERM/SIGINT handlers that stop agents, flush, commit and close cleanly.
    # override_logging=False: Faust keeps turnpoint's ECS handler instead of installing its coloured one.
    worker = Worker(faust_app, loglevel=loglevel, quiet=True, override_logging=False)
    # Faust's terminal spinner sets the root logger to DEBUG so that every log record turns it: that
    # costs ~5 % of a busy worker's CPU in aiokafka debug records and writes escape codes to log files.
    worker.spinner = None
    # The startup heap (Faust, aiokafka, pydantic: ~100k objects) never dies: keep full collections,
    # which the per-batch records trigger, from traversing it again and again.
    gc.freeze()
    worker.execute_from_commandline()


run = worker
app.command("run", help="Alias of `worker` (what the embedded stack starts).")(worker)
