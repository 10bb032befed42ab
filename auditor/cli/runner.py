"""Running a command body: its outcome printed, expected failures as one line, the exit code from `ExitCode`."""
from __future__ import annotations

import sys
from typing import Callable

import click

from auditor.errors import AuditorError, ExitCode
from auditor.model import Written
from auditor.report.terminal import present
from auditor.report.text import visible
from auditor.settings import ReportSettings


def run(action: Callable[[], int]) -> None:
    """Run a command body: expected failures become one line on stderr and their exit code."""
    try:
        code = action()
    except AuditorError as exc:
        # A message can carry a name from the cluster or a file (a label with an OSC sequence): shown, never obeyed.
        click.echo(f"error: {visible(exc, layout=True)}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(int(code))


def show(written: Written, report: ReportSettings) -> int:
    """Print an auditing command's outcome (warnings, then the summary) as -q / -v asked; its exit code."""
    return present(written, quiet=report.quiet, verbose=report.verbose)


def say(text: str, err: bool = False) -> None:
    """A line for people (progress, where files went): names from the cluster in it are shown, never obeyed."""
    click.echo(visible(text, layout=True), err=err)


def echo_ok(text: str) -> int:
    click.echo(text)
    return int(ExitCode.OK)
