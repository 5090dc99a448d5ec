"""`turnpoint`: one command line for every service, the batch commands and the embedded dev stack.

Each service contributes its own typer app (`turnpoint.<service>.cli:app`). They are imported lazily, by
:class:`LazyGroup`, only when their command runs: `turnpoint --help` lists them from the table below without
importing any, and `turnpoint batch ...` imports the batch commands alone (no Kafka client, no HTTP client,
no settings), so the command line starts in well under 0.3 s.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    # typer vendors its own click (typer._click): its groups take and return those classes, not the click
    # package's (a different Context class at run time too)
    from typer import _click as click

SUBAPPS = {
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
RUN_HELP = "Run the whole pipeline on the embedded stack with sample data (the README's main job)."
_OFFLINE = ("batch", "dev", "run", None)  # commands that never talk to an already running stack's servers


def _installed(module: str) -> bool:
    """A service's CLI module is present in this image (its distribution may not be installed)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(TyperGroup):
    """A group whose sub-commands are imported when they are resolved to run, not when they are listed."""

    _resolving = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        lazy = [name for name, (module, _) in SUBAPPS.items() if _installed(module)]
        return [*super().list_commands(ctx), *lazy, "run"]

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        self._resolving = True
        try:
            return super().resolve_command(ctx, args)
        finally:
            self._resolving = False

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        known = super().get_command(ctx, cmd_name)
        if known is not None:
            return known
        if cmd_name not in SUBAPPS and cmd_name != "run":
            return None
        if not self._resolving:  # listing for --help: a stand-in with the help text, nothing imported
            text = RUN_HELP if cmd_name == "run" else SUBAPPS[cmd_name][1]
            return TyperGroup(name=cmd_name, help=text, short_help=text)
        return self.load_command(cmd_name)

    def load_command(self, name: str) -> click.Command | None:
        """The real command ``name`` (imported now if it was not yet), or None if it is not installed."""
        if name in self.commands:
            return self.commands[name]
        if name not in SUBAPPS and name != "run":
            return None
        command = _load(name)
        if command is not None:
            self.add_command(command, name)
        return command


def _load(name: str) -> click.Command | None:
    if name == "run":
        from turnpoint.cli.demo import run

        single = typer.Typer(add_completion=False, pretty_exceptions_show_locals=False)
        single.command("run", help=RUN_HELP)(run)
        return typer.main.get_command(single)
    module, text = SUBAPPS[name]
    try:
        sub = importlib.import_module(module).app
    except ModuleNotFoundError as exc:  # a service not installed in this image
        if exc.name is None or not module.startswith(exc.name):
            raise
        return None
    group = typer.main.get_group(sub)  # as add_typer would: no completion options of its own
    group.name = name
    group.help = group.help or text
    return group


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("turnpoint")
        except PackageNotFoundError:
            number = "unknown (not installed)"
        typer.echo(f"turnpoint {number}")
        raise typer.Exit


app = typer.Typer(
    name="turnpoint",
    cls=LazyGroup,
    help="Event-streaming pipeline for sensor and market data.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _use_running_stack(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Commands other than `dev`, `run` and `batch` talk to the running embedded stack unless the environment
    names servers."""
    if ctx.invoked_subcommand not in _OFFLINE:
        from turnpoint.cli.devstack import export_stack_env

        export_stack_env()


if __name__ == "__main__":
    app()
