"""`audit`, `compare` and `snapshot`: the commands that read cluster states."""
from __future__ import annotations

from pathlib import Path

import click

from auditor.app import audit as audit_app
from auditor.app import compare as compare_app
from auditor.app import snapshot as snapshot_app
from auditor.app.inputs import load_config
from auditor.cli import options as opt
from auditor.cli.runner import run, say, show


@click.command(short_help="Run the single-state rules on one cluster state.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@opt.report_options
@opt.target_option("Kubernetes version you are upgrading to; checks skew against it too.")
@click.option("--rotating", "rotating", multiple=True, metavar="NODEGROUP|karpenter:POOL", help=opt.ROTATING_HELP)
@click.option("--merge", is_flag=True, default=False,
              help="Audit whole snapshots of different moments as one state (otherwise exit 2: use compare).")
@click.option("-n", "--namespace", "namespace", default="default", show_default=True, metavar="NS",
              help="The namespace of namespaced objects that have none (hand-written manifests), as kubectl "
                   "apply -n NS would use.")
def audit(inputs: tuple[str, ...], output_dir: str, formats: tuple[str, ...], fail_on: str | None,
          config: str | None, target_version: str | None, rotating: tuple[str, ...], merge: bool,
          namespace: str) -> None:
    """Run the single-state rules on one cluster state (snapshot files or kubectl dumps, merged)."""

    def body() -> int:
        cfg = load_config(config)
        report = opt.build_report_settings(output_dir, formats, fail_on, cfg.fail_on)
        settings = audit_app.AuditSettings(inputs=inputs, config=cfg, report=report,
                                           target=opt.target(target_version), rotating=opt.rotating(rotating),
                                           merge=merge, namespace=opt.namespace_name(namespace))
        return show(audit_app.audit(settings), report)

    run(body)


@click.command(short_help="Compare the BEFORE and AFTER states of an upgrade.")
@click.argument("before", type=click.Path())
@click.argument("after", type=click.Path())
@opt.report_options
@opt.target_option("Kubernetes version of the upgrade (default: AFTER's control-plane version with EKS data).")
@click.option("--allow-reversed", is_flag=True,
              help="Compare even when BEFORE was taken after AFTER (otherwise exit 2: swapped arguments).")
@click.option("--rotating", "rotating", multiple=True, metavar="NODEGROUP|karpenter:POOL",
              help="A node group the upgrade replaced (repeatable); names BEFORE's groups for the plan.")
def compare(before: str, after: str, output_dir: str, formats: tuple[str, ...], fail_on: str | None,
            config: str | None, target_version: str | None, allow_reversed: bool, rotating: tuple[str, ...]) -> None:
    """Compare BEFORE and AFTER states: single-state rules on AFTER plus the before/after rules."""

    def body() -> int:
        cfg = load_config(config)
        report = opt.build_report_settings(output_dir, formats, fail_on, cfg.fail_on)
        settings = compare_app.CompareSettings(
            before=Path(before), after=Path(after), config=cfg, report=report, target=opt.target(target_version),
            allow_reversed=allow_reversed, rotating=opt.rotating(rotating))
        return show(compare_app.compare(settings), report)

    run(body)


@click.command(short_help="Read the live cluster (and EKS) into a snapshot file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Snapshot file to write (.gz compresses); replaced atomically.")
@click.option("--label", default="", metavar="before|after|TEXT", help="Label recorded in the snapshot.")
@opt.cluster_options
@opt.eks_options
def snapshot(output: str, label: str, kubeconfig: str | None, context: str | None,
             namespaces: tuple[str, ...], request_timeout: str | None, eks_cluster: str | None, region: str | None,
             profile: str | None) -> None:
    """Read the live cluster and write a snapshot file (exit 3 when something could not be read)."""

    def body() -> int:
        settings = snapshot_app.SnapshotSettings(
            cluster=opt.build_cluster_options(kubeconfig, context, namespaces, request_timeout), output=output,
            label=label, eks=opt.eks_reader(eks_cluster, region, profile))
        said = snapshot_app.snapshot(settings)
        for line in said.out:
            say(line)
        for line in said.err:
            say(line, err=True)
        return said.code

    run(body)
