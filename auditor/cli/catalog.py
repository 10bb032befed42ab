"""`rules`, `explain` and `demo`: what the tool checks, and the whole job on a bundled example."""
from __future__ import annotations

from pathlib import Path

import click

from auditor.app import catalog
from auditor.app.demo import demo as demo_app
from auditor.cli.runner import echo_ok, run
from auditor.errors import ExitCode
from auditor.report.terminal import summary


@click.command("rules", short_help="List every rule: id, severity and title.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one array for tooling (id, severity, title, family, commands, convergence, docs).")
def list_rules(fmt: str) -> None:
    """List every rule: id, severity and title (--format json adds whether it counts toward convergence)."""
    run(lambda: echo_ok(catalog.rules_listing(fmt)))


@click.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Print one rule's full documentation."""
    run(lambda: echo_ok(catalog.explanation(rule_id)))


@click.command(short_help="Run the whole job on a bundled example (no cluster needed).")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False), default="upgrade-audit",
              show_default=True, help="Where reports are written.")
def demo(output_dir: str) -> None:
    """Run the whole job on a bundled example; needs no cluster and no AWS."""

    def body() -> int:
        for i, (title, written) in enumerate(demo_app(Path(output_dir))):
            click.echo(("\n" if i else "") + title + "\n")
            click.echo(summary(written.result, written.paths))
        return ExitCode.OK

    run(body)
