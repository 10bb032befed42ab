"""`fleet audit` and `fleet report`: many clusters in one run, and one report for all of them."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click

from auditor.app import fleet as fleet_app
from auditor.app.inputs import load_config
from auditor.cli import options as opt
from auditor.cli.runner import run, say
from auditor.errors import ConfigError
from auditor.settings import parse_fail_on
from auditor.state.inputs import max_input_size


@click.group(short_help="Audit many clusters in one run; one report for all of them.")
def fleet() -> None:
    """Audit every cluster of a kubeconfig in one run (`fleet audit`), or gather the report.json files of many
    clusters (`fleet report`); both write fleet.json, fleet.html and fleet.md."""


def _cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`cluster_options` with --context repeatable: the clusters of the fleet."""
    fn = opt.cluster_options(fn)
    for param in fn.__click_params__:  # type: ignore[attr-defined]
        if param.name == "context":
            param.multiple, param.default = True, ()
            param.help = "A kubeconfig context to audit (repeatable)."
    return fn


@fleet.command("audit", short_help="Snapshot and audit each context in its own process.")
@click.option("--all-contexts", is_flag=True, help="Audit every context of the kubeconfig.")
@click.option("--parallel", type=click.IntRange(min=1), default=None, metavar="N",
              help="Clusters audited at once, each in its own process (default: the number of cores).")
@click.option("--no-eks", is_flag=True, help="Never read the EKS API, even for contexts named by an EKS ARN.")
@_cluster_options
@opt.report_options
@opt.target_option("Kubernetes version you are upgrading to (1.N), for every cluster.")
@click.option("--rotating", "rotating", multiple=True, metavar="NODEGROUP|karpenter:POOL", help=opt.ROTATING_HELP)
@click.option("--profile", default=None, metavar="P",
              help="AWS profile for the EKS API (default: the standard credential chain).")
def audit(all_contexts: bool, parallel: int | None, no_eks: bool, kubeconfig: str | None,
          context: tuple[str, ...], namespaces: tuple[str, ...], request_timeout: str | None, output_dir: str,
          formats: tuple[str, ...], fail_on: str | None, config: str | None, target_version: str | None,
          rotating: tuple[str, ...], profile: str | None) -> None:
    """Audit each kubeconfig context (--context C, repeatable, or --all-contexts): a snapshot and the audit in
    OUTPUT_DIR/<context>/, then the fleet report in OUTPUT_DIR. Exit 3 when a cluster could not be collected,
    else 1 when one fails its gate, else 0. An EKS ARN context also reads its cluster from the EKS API."""

    def body() -> int:
        contexts = tuple(c for c in context if c)
        if bool(contexts) == all_contexts:
            raise ConfigError("name the clusters: --context C (repeatable) or --all-contexts, not both")
        cfg = load_config(config)
        report = opt.build_report_settings(output_dir, formats, fail_on, cfg.fail_on)
        if report.baseline is not None or report.report_url is not None:
            raise ConfigError("--baseline and --report-url name one cluster's report: not for fleet audit")
        cluster = replace(opt.build_cluster_options(kubeconfig, None, namespaces, request_timeout), context=None)
        settings = fleet_app.FleetAuditSettings(
            contexts=contexts, all_contexts=all_contexts, cluster=cluster, report=report, config=config,
            target=opt.target(target_version), rotating=opt.rotating(rotating), parallel=parallel, eks=not no_eks,
            profile=profile, max_input_size=max_input_size())
        written = fleet_app.fleet_audit(settings, lambda line: say(line, err=True))
        return _show(written, report.quiet)

    run(body)


@fleet.command("report", short_help="One fleet report from report.json files in folders or S3.")
@click.argument("sources", nargs=-1, required=True, metavar="SOURCE...")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False), default="upgrade-audit",
              show_default=True, help="Where fleet.json, fleet.html and fleet.md are written.")
@click.option("--fail-on", "fail_on", default="error", metavar="info|warning|error|never", show_default=True,
              help="A report with a finding at or above this severity fails.")
def report(sources: tuple[str, ...], output_dir: str, fail_on: str) -> None:
    """The fleet report of every report.json under each SOURCE: a folder (searched recursively), a report.json,
    or s3://BUCKET/PREFIX/ (boto3 credentials; AWS_ENDPOINT_URL honoured). Exit 1 when a cluster fails, else 0;
    2 when a source is missing or holds no report."""

    def body() -> int:
        settings = fleet_app.FleetReportSettings(sources=sources, output_dir=Path(output_dir),
                                                 fail_on=opt.flag_value("--fail-on", parse_fail_on, fail_on))
        return _show(fleet_app.fleet_report(settings), False)

    run(body)


def _show(written: fleet_app.FleetWritten, quiet: bool) -> int:
    lines = fleet_app.summary_lines(written)
    for line in lines[:1] if quiet else lines:
        say(line)
    return written.code
