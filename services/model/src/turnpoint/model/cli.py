"""`turnpoint model ...`: train, list and serve models, ship inference logs. Heavy imports stay inside commands."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Train and serve ONNX models; every inference is logged (ECS).")
train_app = typer.Typer(no_args_is_help=True, help="Train a model with the light numpy path and publish it to the registry.")
app.add_typer(train_app, name="train")

REGISTRY_HELP = "Registry folder (default: TURNPOINT_MODEL__REGISTRY_DIR or .turnpoint/models)."


def _registry(path: Path | None) -> Path:
    if path is not None:
        return path
    from turnpoint.model.settings import ModelSettings

    return ModelSettings().model.registry_dir


def _publish(trained: object, registry: Path) -> None:
    from turnpoint.model.registry import Registry

    artifact = Registry(registry).publish(trained)  # type: ignore[arg-type]
    card = artifact.card()
    typer.echo(f"published {artifact.name} {artifact.version} -> {artifact.path}")
    typer.echo(card["summary"])


@train_app.command("forecast", help="Train the 5-trading-day close forecaster on BARS.csv (symbol,date,...,close,...).")
def train_forecast(
    input: Path = typer.Option(..., "--input", "-i", help="Bars CSV: symbol,date,open,high,low,close,volume."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    window: int = typer.Option(20, help="Daily log returns the model sees."),
    horizon: int = typer.Option(5, help="Trading days forecast."),
    hidden: int = typer.Option(16, help="Hidden units of the MLP candidate (0: ridge only)."),
    epochs: int = typer.Option(300, help="Adam epochs of the MLP candidate."),
    test_fraction: float = typer.Option(0.2, help="Share of the time range held out for the backtest."),
) -> None:
    from turnpoint.model import data, training
    from turnpoint.model.errors import ModelError

    try:
        trained = training.train_forecaster(
            data.load_bars(input), window=window, horizon=horizon, hidden=hidden, epochs=epochs,
            test_fraction=test_fraction, source=str(input),
        )
        _publish(trained, _registry(registry))
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@train_app.command("anomaly", help="Train the sensor anomaly scorer on READINGS.csv (series,ts,value).")
def train_anomaly(
    input: Path = typer.Option(..., "--input", "-i", help="Readings CSV: series,ts,value."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    length: int = typer.Option(32, help="Readings per window (the last one is scored)."),
    quantile: float = typer.Option(0.995, help="Training-score quantile used as the flag threshold."),
    tz: str = typer.Option("UTC", help="Time zone of the SPEC outlier rule baseline."),
    test_fraction: float = typer.Option(0.2, help="Share of the time range held out for the backtest."),
) -> None:
    from turnpoint.model import data, training
    from turnpoint.model.errors import ModelError

    try:
        trained = training.train_anomaly(
            data.load_readings(input), length=length, quantile=quantile, tz=tz, test_fraction=test_fraction,
            source=str(input),
        )
        _publish(trained, _registry(registry))
    except ModelError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("list", help="List the registry's models and versions with their backtest summaries.")
def list_models(registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP)) -> None:
    from turnpoint.model.registry import Registry

    reg = Registry(_registry(registry))
    names = reg.names()
    if not names:
        typer.echo(f"registry {reg.root} is empty; train with `turnpoint model train forecast --input BARS.csv`")
        return
    for name in names:
        for artifact in reg.versions(name):
            typer.echo(f"{name} {artifact.version}: {artifact.card().get('summary', '')}")


@app.command("demo-models", help="Make sure the registry holds both models (trains small ones if missing).")
def demo_models(
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    bars: Path | None = typer.Option(None, help="Bars CSV to train on (generated data when absent)."),
    readings: Path | None = typer.Option(None, help="Readings CSV to train on (generated data when absent)."),
) -> None:
    from turnpoint.model.registry import ensure_demo_models

    for name, version in ensure_demo_models(_registry(registry), bars, readings).items():
        typer.echo(f"{name} {version}")


@app.command("backtest", help="Historical forecasts: what the served forecaster would have said as of every day "
             "of BARS.csv (the stream forecasts only the newest bar of each symbol in a message).")
def backtest(
    input: Path = typer.Option(..., "--input", "--file", "-i", help="Bars CSV: symbol,date,...,close,..."),
    output: Path = typer.Option(..., "--output", "-o", help="CSV out: symbol,asof,model,version,h1..hN,actual_h1..hN."),
    registry: Path | None = typer.Option(None, "--registry", help=REGISTRY_HELP),
    version: str | None = typer.Option(None, help="Model version (default: the newest, as served)."),
) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from turnpoint.model import backtest as bt
    from turnpoint.model import data
    from turnpoint.model.errors import ModelError
    from turnpoint.model.registry import Registry
    from turnpoint.model.runtime import load
    from turnpoint.model.training import FORECAST_MODEL

    reg = Registry(_registry(registry))
    artifacts = {a.version: a for a in reg.versions(FORECAST_MODEL)}
    artifact = artifacts.get(version) if version else reg.latest(FORECAST_MODEL)
    if artifact is None:
        typer.echo(f"error: no {FORECAST_MODEL} {version or 'version'} in {reg.root}; train one with "
                   f"`turnpoint model train forecast --input BARS.csv` or `turnpoint model demo-models`", err=True)
        raise typer.Exit(2)
    if output.is_dir():
        typer.echo(f"error: --output {output} is a directory; name a file", err=True)
        raise typer.Exit(2)
    try:
        bars = data.load_bars(input)
        model = load(artifact)
        columns = (TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("symbols", total=len(bars))
            summary = bt.run(bars, model, output, progress=lambda n: bar.advance(task, n))
    except (ModelError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"{summary.forecasts} forecasts of {len(bars)} symbol(s) by {model.name} {model.version} -> {output}; "
               f"h1 MAE {summary.mae:.6g} vs last close {summary.naive_mae:.6g} over {summary.scored} days", err=True)


@app.command("run", help="Serve HTTP (TURNPOINT_MODEL__PORT) and the stream worker until SIGTERM.")
def run() -> None:
    from turnpoint.core.observability import configure_logging
    from turnpoint.model.bootstrap import run as serve
    from turnpoint.model.settings import ModelSettings

    settings = ModelSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(settings)


@app.command("ship-logs", help="Index local inference log files into Elasticsearch (idempotent by event.id).")
def ship_logs(
    files: list[Path] = typer.Argument(None, help="ECS JSON line files (default: every file in TURNPOINT_MODEL__LOG_DIR)."),
    es_url: str = typer.Option("http://127.0.0.1:9200", "--es-url", help="Elasticsearch URL."),
    prefix: str = typer.Option("turnpoint-inference", help="Index prefix (daily indices PREFIX-YYYY.MM.DD)."),
) -> None:
    from elasticsearch import Elasticsearch

    from turnpoint.model.elastic import ship_files
    from turnpoint.model.settings import ModelSettings

    paths = files or sorted(ModelSettings().model.log_dir.glob("inference-*.ndjson"))
    if not paths:
        typer.echo("no inference log files to ship", err=True)
        raise typer.Exit(1)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (TextColumn("shipping"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task("ship", total=sum(p.stat().st_size for p in paths))
            shipped = ship_files(Elasticsearch(es_url, request_timeout=60), paths, prefix,
                                 progress=lambda n: bar.advance(task, n))
    except Exception as exc:
        typer.echo(f"error: cannot index into {es_url}: {exc}; is Elasticsearch up?", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"indexed {shipped.indexed} documents, {shipped.present} already present, {shipped.failed} failed,"
               f" from {len(paths)} file(s)")
    raise typer.Exit(1 if shipped.failed else 0)
