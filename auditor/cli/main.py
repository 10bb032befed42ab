"""Command line: parse flags, build settings, call auditor.app.commands, map the outcome to an exit code."""
from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click

from auditor import __version__
from auditor.app import commands as app
from auditor.collect.options import ClusterOptions
from auditor.errors import AuditorError, ConfigError, ExitCode
from auditor.report.terminal import present, summary
from auditor.settings import ReportSettings, normalise_version, parse_fail_on, parse_formats, parse_rotating
from auditor.state.inputs import DEFAULT_MAX_INPUT_SIZE, MAX_INPUT_SIZE_ENV, human_size, parse_size, set_max_input_size

FAIL_ON_HELP = "Exit 1 when a finding is at or above this severity (default: error)."
# verify's exit code is convergence alone (docs/verify.md); --fail-on only shapes its reports.
VERIFY_FAIL_ON_HELP = ("Findings at or above this severity are failures in the JUnit report (default: error); "
                       "verify's exit code depends only on convergence.")


def report_options(fn: Callable[..., Any], fail_on_help: str = FAIL_ON_HELP) -> Callable[..., Any]:
    """The report flags every auditing command shares (CONTRACT.md 'Report options')."""
    # Paths are checked by the loaders, whose one-line errors name the file and say what is wrong.
    fn = click.option("--config", "config", type=click.Path(), default=None,
                      help="Config file (default: .upgrade-auditor.yaml when it exists).")(fn)
    fn = click.option("--fail-on", "fail_on", default=None, metavar="info|warning|error|never",
                      help=fail_on_help)(fn)
    fn = click.option("--format", "formats", multiple=True, metavar="html,md,json,junit",
                      help="Report formats, repeatable or comma-separated (default: html,md,json).")(fn)
    fn = click.option("--output-dir", "output_dir", type=click.Path(file_okay=False), default="upgrade-audit",
                      show_default=True, help="Where reports are written.")(fn)
    # Not passed as parameters: build_report_settings picks them up, so no command signature changes.
    fn = click.option("--max-input-size", metavar="SIZE", default=None, expose_value=False,
                      callback=_remember_max_input_size,
                      help=f"Refuse inputs larger than this once decompressed (default: "
                           f"{human_size(DEFAULT_MAX_INPUT_SIZE)}, or ${MAX_INPUT_SIZE_ENV}), e.g. 8G.")(fn)
    fn = click.option("--baseline", metavar="REPORT.json", default=None, expose_value=False,
                      callback=_remember_baseline,
                      help="A previous report.json: findings already in it are reported as known and do not "
                           "fail the gate; new ones do; fixed ones are listed.")(fn)
    fn = click.option("--upload", metavar="s3://BUCKET/PREFIX", default=None, expose_value=False,
                      callback=_remember_upload,
                      help="Also copy the written reports to S3 (boto3 credentials) and print their URLs.")(fn)
    fn = click.option("--report-url", metavar="URL", default=None, expose_value=False, callback=_remember_url,
                      help="Where the full report will be (http/https); report.md links it. Default with "
                           "--upload: the uploaded report.html.")(fn)
    fn = click.option("-q", "--quiet", is_flag=True, default=False, expose_value=False, callback=_remember_flag,
                      help="Print only the verdict line.")(fn)
    fn = click.option("-v", "--verbose", is_flag=True, default=False, expose_value=False, callback=_remember_flag,
                      help="Also print the rules that did not run, and why.")(fn)
    return fn


def verify_report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    return report_options(fn, VERIFY_FAIL_ON_HELP)


_UPLOAD_KEY = "auditor.upload"
_BASELINE_KEY = "auditor.engine.baseline"


def _remember_baseline(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        ctx.meta[_BASELINE_KEY] = value
    return value


def _remember_max_input_size(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    try:
        set_max_input_size(parse_size(value) if value is not None else None)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _remember_upload(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        from auditor.report.share import parse_s3_url
        try:
            parse_s3_url(value)
        except ConfigError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[-1]) from None
        ctx.meta[_UPLOAD_KEY] = value
    return value


_URL_KEY = "auditor.report_url"


def _remember_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        if not re.match(r"(?i)^https?://[^\s/]+\S*$", value.strip()):
            raise click.BadParameter(f"{value!r}: expected an http:// or https:// URL")
        ctx.meta[_URL_KEY] = value.strip()
    return value


def _remember_flag(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.meta[f"auditor.{param.name}"] = True
    return value


def build_report_settings(output_dir: str, formats: tuple[str, ...], fail_on: str | None,
                          config_fail_on: str | None, upload: str | None = None) -> ReportSettings:
    # The config's fail-on was validated (naming the file) when it was loaded; only the flag can be wrong here.
    chosen = fail_on if fail_on is not None else (config_fail_on or "error")
    ctx = click.get_current_context(silent=True)
    meta: dict[str, Any] = dict(ctx.meta) if ctx is not None else {}
    if ctx is not None and ctx.parent is not None and ctx.parent.params.get("verbose"):
        meta.setdefault("auditor.verbose", True)  # `upgrade-auditor -v audit ...` as well as `audit -v`
    if upload is None:
        upload = meta.get(_UPLOAD_KEY)
    quiet, verbose = bool(meta.get("auditor.quiet")), bool(meta.get("auditor.verbose"))
    if quiet and verbose:
        raise ConfigError("-q and -v contradict each other: use one")
    return ReportSettings(output_dir=Path(output_dir), formats=parse_formats(formats),
                          fail_on=_flag_value("--fail-on", parse_fail_on, chosen), upload=upload,
                          report_url=meta.get(_URL_KEY), quiet=quiet, verbose=verbose,
                          baseline=Path(meta[_BASELINE_KEY]) if meta.get(_BASELINE_KEY) else None)


def _flag_value(flag: str, parse: Callable[[str], Any], value: str) -> Any:
    """Parse a flag's value; a bad one is a one-line error that names the flag."""
    try:
        return parse(value)
    except ConfigError as exc:
        raise ConfigError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None


def _target(value: str | None) -> str | None:
    return _flag_value("--target-version", normalise_version, value) if value else None


def _rotating(values: tuple[str, ...]) -> tuple[str, ...]:
    try:
        return parse_rotating(values)
    except ConfigError as exc:
        raise ConfigError(f"--rotating: {exc}") from None


ROTATING_HELP = ("A node group the upgrade replaces (repeatable; karpenter:POOL for a Karpenter node pool). "
                 "Default: every node group or node below the target version.")


def run(action: Callable[[], int]) -> None:
    """Run a command body: expected failures become one line on stderr and their exit code."""
    try:
        code = action()
    except AuditorError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(int(code))


def _echo_ok(text: str) -> int:
    click.echo(text)
    return int(ExitCode.OK)


def _demo(output_dir: Path) -> int:
    for i, (title, written) in enumerate(app.demo(output_dir)):
        click.echo(("\n" if i else "") + title + "\n")
        click.echo(summary(written.result, written.paths))
    return int(ExitCode.OK)


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


EPILOG = """\b
Start with `upgrade-auditor demo` (no cluster needed); COMMAND --help for details.
Exit codes: 0 ran, nothing at or above --fail-on (verify: converged);
1 findings at or above --fail-on (verify: not converged);
2 usage error, or a missing or invalid input/config file; 3 could not collect."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="upgrade-auditor")
@click.option("-v", "--verbose", is_flag=True, help="Log details to stderr.")
def main(verbose: bool) -> None:
    """Audit EndpointSlices, Endpoints and EKS state before and after an Amazon EKS upgrade."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


@main.command(short_help="Run the single-state rules on one cluster state.")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=True))
@report_options
@click.option("--target-version", default=None, metavar="1.N",
              help="Kubernetes version you are upgrading to; checks skew against it too.")
@click.option("--rotating", "rotating", multiple=True, metavar="NODEGROUP|karpenter:POOL", help=ROTATING_HELP)
def audit(inputs: tuple[str, ...], output_dir: str, formats: tuple[str, ...], fail_on: str | None,
          config: str | None, target_version: str | None, rotating: tuple[str, ...]) -> None:
    """Run the single-state rules on one cluster state (snapshot files or kubectl dumps, merged)."""

    def body() -> int:
        cfg = app.load_config(config)
        report = build_report_settings(output_dir, formats, fail_on, cfg.fail_on)
        target = _target(target_version)
        return present(app.audit(list(inputs), cfg, report, target, _rotating(rotating)), quiet=report.quiet,
                       verbose=report.verbose)

    run(body)


def cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that say which live cluster to read (`snapshot`, `verify`)."""
    fn = click.option("--request-timeout", "request_timeout", default=None, metavar="S",
                      help="Give up on one API request (body included) after this long: seconds, or "
                           "with a unit as kubectl takes it (30s, 2m; default 60s). Retries of a request "
                           "stop after 6 attempts or 120 s.")(fn)
    fn = click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
                      help="Read only this namespace (repeatable; default: all). Nodes and Namespaces "
                           "are always read cluster-wide.")(fn)
    fn = click.option("--context", default=None, metavar="NAME",
                      help="Kubeconfig context (default: the current context).")(fn)
    fn = click.option("--kubeconfig", default=None, metavar="PATH",
                      help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config; "
                           "in a Pod: the in-cluster service account).")(fn)
    return fn


def build_cluster_options(kubeconfig: str | None, context: str | None,
                          namespaces: tuple[str, ...], request_timeout: str | None = None) -> ClusterOptions:
    names = tuple(dict.fromkeys(ns for ns in namespaces if ns))
    opts = ClusterOptions(kubeconfig=kubeconfig, context=context, namespaces=names)
    if request_timeout is not None:
        opts = replace(opts, request_timeout=_flag_value("--request-timeout", parse_duration, request_timeout))
    return opts


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)")


def parse_duration(text: str) -> float:
    """Seconds from `30`, `30s`, `1.5m`, `1m30s`, `500ms` (kubectl's --request-timeout spellings); must be > 0."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ConfigError(f"--request-timeout: {text!r} is not a duration (write 60, 60s or 2m)") from None
        unit = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
        seconds = sum(float(n) * unit[u] for n, u in parts)
    if not seconds > 0 or seconds != seconds or seconds == float("inf"):
        raise ConfigError(f"--request-timeout: {text!r} must be more than 0 (every request is bounded)")
    return seconds


def eks_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that add the cluster's AWS side (EKS API) to a snapshot."""
    fn = click.option("--profile", default=None, metavar="P",
                      help="AWS profile for --eks-cluster (default: the standard credential chain).")(fn)
    fn = click.option("--region", default=None, metavar="R",
                      help="AWS region of --eks-cluster (default: AWS_REGION / the profile's region).")(fn)
    fn = click.option("--eks-cluster", "eks_cluster", default=None, metavar="NAME",
                      help="Also read this EKS cluster from the EKS API (node groups, add-ons, "
                           "insights).")(fn)
    return fn


def eks_reader(eks_cluster: str | None, region: str | None,
               profile: str | None) -> Callable[[], dict[str, Any]] | None:
    if eks_cluster is None:
        if region is not None or profile is not None:
            raise ConfigError("--region and --profile need --eks-cluster NAME")
        return None

    def read() -> dict[str, Any]:
        from auditor.collect.eks import collect_eks  # boto3 loads only when asked for

        return collect_eks(eks_cluster, region=region, profile=profile)

    return read


@main.command(short_help="Read the live cluster (and EKS) into a snapshot file.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Snapshot file to write (.gz compresses); replaced atomically.")
@click.option("--label", default="", metavar="before|after|TEXT", help="Label recorded in the snapshot.")
@cluster_options
@eks_options
def snapshot(output: str, label: str, kubeconfig: str | None, context: str | None,
             namespaces: tuple[str, ...], request_timeout: str | None, eks_cluster: str | None, region: str | None,
             profile: str | None) -> None:
    """Read the live cluster and write a snapshot file (exit 3 when something could not be read)."""

    def body() -> int:
        from auditor.collect.live import take_snapshot  # the kubernetes client loads only when needed

        opts = build_cluster_options(kubeconfig, context, namespaces, request_timeout)
        outcome = take_snapshot(opts, Path(output), label, eks=eks_reader(eks_cluster, region, profile))
        click.echo(outcome.summary())
        if outcome.optional_gaps():
            click.echo(f"note: optional kinds not read (the rules that need them will say they did not run): "
                       f"{outcome.optional_gaps()}", err=True)
        if not outcome.complete:
            where = (f"; written to {outcome.path}, the complete snapshot at {output} is left as it was"
                     if outcome.beside else "")
            click.echo(f"error: snapshot {outcome.path} is incomplete: {outcome.cause()}{where}", err=True)
            return ExitCode.COLLECTION
        return ExitCode.OK

    run(body)


@main.command(short_help="Compare the BEFORE and AFTER states of an upgrade.")
@click.argument("before", type=click.Path())
@click.argument("after", type=click.Path())
@report_options
@click.option("--target-version", default=None, metavar="1.N",
              help="Kubernetes version of the upgrade (default: AFTER's control-plane version with EKS data).")
@click.option("--allow-reversed", is_flag=True,
              help="Compare even when BEFORE was taken after AFTER (otherwise exit 2: swapped arguments).")
@click.option("--rotating", "rotating", multiple=True, metavar="NODEGROUP|karpenter:POOL",
              help="A node group the upgrade replaced (repeatable); names BEFORE's groups for the plan.")
def compare(before: str, after: str, output_dir: str, formats: tuple[str, ...], fail_on: str | None,
            config: str | None, target_version: str | None, allow_reversed: bool, rotating: tuple[str, ...]) -> None:
    """Compare BEFORE and AFTER states: single-state rules on AFTER plus the before/after rules."""

    def body() -> int:
        cfg = app.load_config(config)
        report = build_report_settings(output_dir, formats, fail_on, cfg.fail_on)
        target = _target(target_version)
        return present(app.compare(Path(before), Path(after), cfg, report, target, allow_reversed=allow_reversed,
                                   rotating=_rotating(rotating)), quiet=report.quiet, verbose=report.verbose)

    run(body)


@main.command(short_help="Follow the live cluster (list, then watch) until it reconverges with BEFORE.")
@click.option("--before", "before", required=True, type=click.Path(), metavar="FILE",
              help="The BEFORE state (snapshot file or kubectl dump).")
@click.option("--timeout", default=600.0, show_default=True, metavar="S",
              type=click.FloatRange(min=0), help="End (exit 1 when not converged) after this many seconds.")
@click.option("--interval", default=15.0, show_default=True, metavar="S",
              type=click.FloatRange(min=0, min_open=True),
              help="Seconds between lists of a kind whose watch RBAC forbids (watched kinds need no polling).")
@click.option("--follow", is_flag=True, default=False,
              help="Do not stop at convergence: follow the whole upgrade until --timeout or SIGINT/SIGTERM, then "
                   "write the reports and exit by the final verdict (0 converged, 1 not).")
@click.option("--fail-on-outage", is_flag=True, default=False,
              help="Also exit 1 when a Service was at zero ready endpoints during the run (service-outage).")
@click.option("--record", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Write the observed events (JSON lines; gzip when FILE ends in .gz) for `replay`.")
@cluster_options
@eks_options
@verify_report_options
@click.option("--target-version", default=None, metavar="1.N",
              help="Kubernetes version of the upgrade (default: the live control plane's with EKS data).")
def verify(before: str, timeout: float, interval: float, follow: bool, fail_on_outage: bool, record: str | None,
           kubeconfig: str | None, context: str | None,
           namespaces: tuple[str, ...], request_timeout: str | None, eks_cluster: str | None, region: str | None,
           profile: str | None,
           output_dir: str, formats: tuple[str, ...], fail_on: str | None, config: str | None,
           target_version: str | None) -> None:
    """Follow the live cluster until it has reconverged with BEFORE (exit 0) or the run ends (exit 1).

    Lists the cluster once, then watches it, recording each Service's ready endpoints over time: the
    report's timeline shows which Services went down during the upgrade, and for how long."""

    def body() -> int:
        from auditor.app import verify as verifier  # the kubernetes client loads only when needed

        cfg = app.load_config(config)
        settings = verifier.VerifySettings(
            before=Path(before), cluster=build_cluster_options(kubeconfig, context, namespaces, request_timeout),
            config=cfg,
            report=build_report_settings(output_dir, formats, fail_on, cfg.fail_on),
            target=_target(target_version),
            timeout=timeout, interval=interval, eks=eks_reader(eks_cluster, region, profile),
            follow=follow, fail_on_outage=fail_on_outage, record=Path(record) if record else None)
        return verifier.verify(settings)

    run(body)


@main.command(short_help="Replay a recorded verify run offline (verify --record).")
@click.option("--before", "before", required=True, type=click.Path(), metavar="FILE",
              help="The BEFORE state the run was verified against.")
@click.option("--events", "events", required=True, type=click.Path(), metavar="FILE",
              help="The events `verify --record FILE` wrote.")
@click.option("--fail-on-outage", is_flag=True, default=False,
              help="Also exit 1 when a Service was at zero ready endpoints during the run (service-outage).")
@verify_report_options
@click.option("--target-version", default=None, metavar="1.N",
              help="Kubernetes version of the upgrade (default: the recorded control plane's).")
def replay(before: str, events: str, fail_on_outage: bool, output_dir: str, formats: tuple[str, ...],
           fail_on: str | None, config: str | None, target_version: str | None) -> None:
    """Reproduce a verify run's report from its recording: the same timeline, findings and verdict."""

    def body() -> int:
        from auditor.app import verify as verifier
        from auditor.state import recording

        cfg = app.load_config(config)
        rec = recording.read(Path(events))
        settings = verifier.VerifySettings(
            before=Path(before), cluster=ClusterOptions(), config=cfg,
            report=build_report_settings(output_dir, formats, fail_on, cfg.fail_on),
            target=_target(target_version), fail_on_outage=fail_on_outage)
        return verifier.replay(Path(before), rec, settings)

    run(body)


@main.command("rules", short_help="List every rule: id, severity and title.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one array for tooling (id, severity, title, family, commands, convergence, docs).")
def list_rules(fmt: str) -> None:
    """List every rule: id, severity and title (--format json adds whether it counts toward convergence)."""
    run(lambda: _echo_ok(app.rules_listing(fmt)))


@main.command()
@click.argument("rule_id")
def explain(rule_id: str) -> None:
    """Print one rule's full documentation."""
    run(lambda: _echo_ok(app.explanation(rule_id)))


@main.command(short_help="Run the whole job on a bundled example (no cluster needed).")
@click.option("--output-dir", "output_dir", type=click.Path(file_okay=False), default="upgrade-audit",
              show_default=True, help="Where reports are written.")
def demo(output_dir: str) -> None:
    """Run the whole job on a bundled example; needs no cluster and no AWS."""
    run(lambda: _demo(Path(output_dir)))
