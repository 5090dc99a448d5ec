"""`turnpoint`: one command line for every service, the batch commands and the embedded dev stack.

Each service contributes its own typer app (`turnpoint.<service>.cli:app`); those modules import their
heavy dependencies inside the commands, so `turnpoint --help` and `turnpoint batch` start fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="turnpoint",
    help="Event-streaming pipeline for sensor and market data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

_SUBAPPS = {
    "dev": ("turnpoint.cli.devstack", "The embedded stack: broker, database and every service, in the background."),
    "batch": ("turnpoint.cli.batch", "Run the stream algorithms over files (SPEC section 4)."),
    "ingest": ("turnpoint.ingest.cli", "Publish readings, bars and counts to Kafka."),
    "transform": ("turnpoint.transform.cli", "Faust stream workers: statistics, outliers, rebounds."),
    "loader": ("turnpoint.loader.cli", "Upsert results into PostgreSQL or Tibero/Oracle; migrations."),
    "model": ("turnpoint.model.cli", "Train and serve ONNX models."),
    "api": ("turnpoint.api.cli", "The read API (FastAPI)."),
    "alerts": ("turnpoint.alerts.cli", "Alert rules, the evaluator and the webhook notifier."),
    "schedule": ("turnpoint.cli.schedule", "Daily jobs on cron times, each publishing its freshness record."),
    "db": ("turnpoint.cli.db", "Back up and restore the PostgreSQL database (pg_dump/pg_restore)."),
}

for _name, (_module, _help) in _SUBAPPS.items():
    try:
        _sub = importlib.import_module(_module).app
    except ModuleNotFoundError as _exc:  # a service not installed in this image
        if _exc.name is None or not _module.startswith(_exc.name):
            raise
        continue
    app.add_typer(_sub, name=_name, help=_help)

from turnpoint.cli.demo import run as _run  # noqa: E402


@app.callback()
def _use_running_stack(ctx: typer.Context) -> None:
    """Commands other than `dev` talk to the running embedded stack unless the environment names servers."""
    if ctx.invoked_subcommand not in ("dev", "run", None):
        from turnpoint.cli.devstack import export_stack_env

        export_stack_env()

app.command("run", help="Run the whole pipeline on the embedded stack with sample data (the README's main job).")(_run)


if __name__ == "__main__":
    app()
