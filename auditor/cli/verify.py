"""`verify` and `replay`: follow the live cluster until it reconverges, or replay a recorded run."""
from __future__ import annotations

from pathlib import Path

import click

from auditor.app.inputs import load_config
from auditor.app.verify_end import VerifySettings
from auditor.cli import options as opt
from auditor.cli.runner import run, say, show
from auditor.collect.elbv2 import client_factory
from auditor.collect.options import ClusterOptions


@click.command(short_help="Follow the live cluster (list, then watch) until it reconverges with BEFORE.")
@click.option("--before", "before", required=True, type=click.Path(), metavar="FILE",
              help="The BEFORE state (snapshot file or kubectl dump).")
@click.option("--timeout", default=600.0, show_default=True, metavar="S",
              type=click.FloatRange(min=0),
              help="End after this many seconds (exit 1 when not converged then); with --eks-cluster the EKS calls "
                   "are included: following stops up to 20 s earlier to leave them time.")
@click.option("--interval", default=15.0, show_default=True, metavar="S",
              type=click.FloatRange(min=0, min_open=True),
              help="Seconds between lists of a kind whose watch RBAC forbids (watched kinds need no polling).")
@click.option("--follow", is_flag=True, default=False,
              help="Do not stop at convergence: follow the whole upgrade until --timeout or SIGINT/SIGTERM, then "
                   "write the reports and exit by the final verdict (the gate: --fail-on).")
@click.option("--settle", default=None, metavar="S", type=click.FloatRange(min=0),
              help="End once the cluster has stayed converged this many seconds (default: settle-seconds in the "
                   "config, 30). At --timeout a cluster converged then is converged, with a note.")
@click.option("--fail-on-outage", is_flag=True, default=False, help=opt.FAIL_ON_OUTAGE_HELP)
@click.option("--record", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the observed events (JSON lines; gzip when FILE ends in .gz) for `replay`: into a temporary "
                   "file renamed over FILE at the end; never through a symlink; refused while another run records "
                   "to FILE (FILE.lock).")
@opt.cluster_options
@opt.eks_options
@opt.verify_report_options
@opt.target_option("Kubernetes version of the upgrade (default: the live control plane's with EKS data).")
def verify(before: str, timeout: float, interval: float, follow: bool, settle: float | None, fail_on_outage: bool,
           record: str | None,
           kubeconfig: str | None, context: str | None,
           namespaces: tuple[str, ...], request_timeout: str | None, eks_cluster: str | None, region: str | None,
           profile: str | None,
           output_dir: str, formats: tuple[str, ...], fail_on: str | None, config: str | None,
           target_version: str | None) -> None:
    """Follow the live cluster until it has reconverged with BEFORE or the run ends; exit by --fail-on
    (1 also when not converged; 3 when convergence is unknown).

    Lists the cluster once, then watches it, recording each Service's ready endpoints over time: the
    report's timeline shows which Services went down during the upgrade, and for how long."""

    def body() -> int:
        from auditor.app import verify as verify_app  # the kubernetes client loads only when needed

        cfg = load_config(config)
        settings = VerifySettings(
            before=Path(before), cluster=opt.build_cluster_options(kubeconfig, context, namespaces, request_timeout),
            config=cfg, report=opt.build_report_settings(output_dir, formats, fail_on, cfg.fail_on),
            target=opt.target(target_version), timeout=timeout, interval=interval,
            eks=opt.eks_reader(eks_cluster, region, profile), follow=follow, fail_on_outage=fail_on_outage,
            record=Path(record) if record else None, elbv2=client_factory(eks_cluster, region, profile),
            settle=settle)
        verified = verify_app.verify(settings, echo=lambda line: say(line, err=True))
        code = show(verified.written, settings.report)
        for line in verified.lines:
            say(line)
        if verified.error is not None:
            from auditor.state.recorder import RecordingError

            raise RecordingError(verified.error)  # the reports are out; the run was cut short: exit 3
        if verified.interrupted:
            raise KeyboardInterrupt()  # no verdict was reached: exit 130, the reports written
        return code

    run(body)


@click.command(short_help="Replay a recorded verify run offline (verify --record).")
@click.option("--before", "before", required=True, type=click.Path(), metavar="FILE",
              help="The BEFORE state the run was verified against.")
@click.option("--events", "events", required=True, type=click.Path(), metavar="FILE",
              help="The events `verify --record FILE` wrote.")
@click.option("--fail-on-outage", is_flag=True, default=False, help=opt.FAIL_ON_OUTAGE_HELP)
@opt.verify_report_options
@opt.target_option("Kubernetes version of the upgrade (default: the recorded control plane's).")
def replay(before: str, events: str, fail_on_outage: bool, output_dir: str, formats: tuple[str, ...],
           fail_on: str | None, config: str | None, target_version: str | None) -> None:
    """Reproduce a verify run's report from its recording: the same timeline, findings and verdict."""

    def body() -> int:
        from auditor.app.replay import replay as replay_app

        cfg = load_config(config)
        settings = VerifySettings(
            before=Path(before), cluster=ClusterOptions(), config=cfg,
            report=opt.build_report_settings(output_dir, formats, fail_on, cfg.fail_on),
            target=opt.target(target_version), fail_on_outage=fail_on_outage)
        return show(replay_app(settings, Path(events)), settings.report)

    run(body)
