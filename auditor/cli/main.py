"""The `upgrade-auditor` group: its options and help, every command registered, and the console-script entry."""
from __future__ import annotations

import logging
import os
import sys

import click

from auditor import __version__
from auditor.cli.audit import audit, compare, snapshot
from auditor.cli.catalog import demo, explain, list_rules
from auditor.cli.fleet import fleet
from auditor.cli.verify import replay, verify

EPILOG = """\b
Start with `upgrade-auditor demo` (no cluster needed); COMMAND --help for details.
Exit codes: 0 ran, nothing at or above --fail-on (compare, verify: and converged);
1 findings at or above --fail-on, or not converged (wins over a failed upload);
2 usage error, or a missing or invalid input/config file;
3 could not collect, convergence unknown, or the upload failed."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="upgrade-auditor")
@click.option("-v", "--verbose", is_flag=True, help="Log details to stderr.")
def main(verbose: bool) -> None:
    """Audit EndpointSlices, Endpoints and EKS state before and after an Amazon EKS upgrade."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


for _command in (audit, compare, snapshot, verify, replay, list_rules, explain, demo, fleet):
    main.add_command(_command)


def console_main() -> None:
    """Console-script entry: run the CLI, then leave without tearing down the heap.

    A 100k-Pod state is millions of small objects; freeing them one by one at exit costs about a
    second per state and serves no purpose in a process that is ending. Output is flushed first.
    """
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    sys.stderr.flush()
    if code is None:
        code = 0
    elif not isinstance(code, int):
        click.echo(str(code), err=True)
        sys.stderr.flush()
        code = 1
    os._exit(code)
