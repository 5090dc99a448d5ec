"""`turnpoint alerts ...`: run the service, check a rules file, post a sample alert. Heavy imports stay inside."""
# ruff: noqa: B008  (typer declares options as argument defaults)

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, help="Alert rules over outliers, anomalies, turning points and freshness.")


@app.command("run", help="Evaluate the rules and deliver alerts until SIGTERM (TURNPOINT_ALERTS__ROLE picks a part).")
def run(role: str | None = typer.Option(None, help="all, evaluator or notifier (default: TURNPOINT_ALERTS__ROLE).")) -> None:
    from turnpoint.alerts.bootstrap import run as serve
    from turnpoint.alerts.settings import AlertsSettings
    from turnpoint.core.observability import configure_logging

    settings = AlertsSettings()
    if role is not None:
        settings = settings.model_copy(update={"alerts": settings.alerts.model_copy(update={"role": role})})
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    serve(settings)


@app.command("test", help="Validate a rules file; errors name the file and the line (exit 1).")
def test(rules: Path = typer.Argument(..., help="The YAML rules file.")) -> None:
    from turnpoint.core.alerts.rules import RulesError, load_rules

    try:
        parsed = load_rules(rules)
    except RulesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for r in parsed.rules:
        typer.echo(f"{r.name}: {r.kind} on {r.match!r} -> {r.webhook} ({r.format})")
    typer.echo(f"{rules}: {len(parsed.rules)} rule(s) OK")


@app.command("send-test", help="POST a sample alert of the rule's kind to its webhook and print the response.")
def send_test(
    name: str = typer.Argument(..., help="The rule's name."),
    rules: Path | None = typer.Option(None, "--rules", help="Rules file (default: TURNPOINT_ALERTS__RULES_FILE)."),
) -> None:
    from turnpoint.alerts.sample import sample_alert
    from turnpoint.alerts.sender import Sender
    from turnpoint.alerts.settings import AlertsSettings
    from turnpoint.core.alerts.rules import RulesError, load_rules

    path = rules or AlertsSettings().alerts.rules_file
    if path is None:
        typer.echo("error: no rules file; pass --rules FILE or set TURNPOINT_ALERTS__RULES_FILE", err=True)
        raise typer.Exit(2)
    try:
        rule = load_rules(path).by_name(name)
    except RulesError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if rule is None:
        typer.echo(f"error: {path} has no rule named {name!r}; `turnpoint alerts test {path}` lists them", err=True)
        raise typer.Exit(2)
    alert = sample_alert(rule)
    sender = Sender(1)
    try:
        r = sender.send(rule, alert)
    finally:
        sender.close()
    typer.echo(f"POST {rule.webhook} (Idempotency-Key: {alert.id}, format {rule.format})")
    if r.code is None:
        typer.echo(f"no response: {r.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"HTTP {r.code}{' (delivered)' if r.ok else ''}")
    if r.text:
        typer.echo(r.text)
    raise typer.Exit(0 if r.ok else 1)
