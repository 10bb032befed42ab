"""The flags several commands share (click decorators) and the parsers that turn flag values into settings."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import click

from auditor.collect.options import ClusterOptions
from auditor.errors import ConfigError
from auditor.settings import ReportSettings, normalise_version, parse_fail_on, parse_formats, parse_rotating
from auditor.state.inputs import DEFAULT_MAX_INPUT_SIZE, MAX_INPUT_SIZE_ENV, human_size, parse_size, set_max_input_size

FAIL_ON_HELP = "Exit 1 when a finding is at or above this severity (default: error)."
# verify and replay gate like every command (AuditResult.gate); not converged fails too, unknown is exit 3.
VERIFY_FAIL_ON_HELP = ("Exit 1 when a finding is at or above this severity, or the cluster is not converged "
                       "(default: error; never: only --fail-on-outage fails).")
ROTATING_HELP = ("A node group the upgrade replaces (repeatable; karpenter:POOL for a Karpenter node pool). "
                 "Default: every node group or node below the target version.")
FAIL_ON_OUTAGE_HELP = ("Exit 1 when a Service was at zero ready endpoints during the run (service-outage), whatever "
                       "--fail-on says.")

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def report_options(fn: Callable[..., Any], fail_on_help: str = FAIL_ON_HELP) -> Callable[..., Any]:
    """The report flags every auditing command shares (README: report options)."""
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


def target_option(help_text: str) -> Decorator:
    return click.option("--target-version", default=None, metavar="1.N", help=help_text)


_UPLOAD_KEY = "auditor.upload"
_BASELINE_KEY = "auditor.engine.baseline"
_URL_KEY = "auditor.report_url"


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
                          fail_on=flag_value("--fail-on", parse_fail_on, chosen), upload=upload,
                          report_url=meta.get(_URL_KEY), quiet=quiet, verbose=verbose,
                          baseline=Path(meta[_BASELINE_KEY]) if meta.get(_BASELINE_KEY) else None)


def flag_value(flag: str, parse: Callable[[str], Any], value: str) -> Any:
    """Parse a flag's value; a bad one is a one-line error that names the flag."""
    try:
        return parse(value)
    except ConfigError as exc:
        raise ConfigError(f"{flag}: {str(exc).split(': ', 1)[-1]}") from None


def target(value: str | None) -> str | None:
    """--target-version as `1.N`, or None when not given."""
    return flag_value("--target-version", normalise_version, value) if value else None


def rotating(values: tuple[str, ...]) -> tuple[str, ...]:
    """--rotating names, checked for form (whether each is a node group is checked against the state)."""
    try:
        return parse_rotating(values)
    except ConfigError as exc:
        raise ConfigError(f"--rotating: {exc}") from None


def cluster_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The flags that say which live cluster to read (`snapshot`, `verify`)."""
    fn = click.option("--request-timeout", "request_timeout", default=None, metavar="S",
                      help="Give up on one API request (body included) after this long: seconds, or "
                           "with a unit as kubectl takes it (30s, 2m; default 60s). Retries of a request "
                           "stop after 6 attempts or 120 s.")(fn)
    fn = click.option("-n", "--namespace", "namespaces", multiple=True, metavar="NS",
                      help="Read only this namespace (repeatable; default: all); exit 2 when it is not a "
                           "namespace name or the server has no such namespace. Nodes and Namespaces are always "
                           "read cluster-wide.")(fn)
    fn = click.option("--context", default=None, metavar="NAME",
                      help="Kubeconfig context (default: the current context).")(fn)
    fn = click.option("--kubeconfig", default=None, metavar="PATH",
                      help="Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config; "
                           "in a Pod: the in-cluster service account).")(fn)
    return fn


def namespace_name(text: str) -> str:
    """A namespace given with -n: a DNS-1123 label, or a usage error (exit 2)."""
    from auditor.state.inputs import NAMESPACE_NAME

    if not NAMESPACE_NAME.fullmatch(text):
        raise ConfigError(f"-n {text!r}: not a namespace name (a DNS-1123 label: lowercase letters, digits and "
                          "'-', starting and ending with a letter or digit, at most 63 characters)")
    return text


def build_cluster_options(kubeconfig: str | None, context: str | None,
                          namespaces: tuple[str, ...], request_timeout: str | None = None) -> ClusterOptions:
    for ns in namespaces:  # before any request: a name goes into the request path
        namespace_name(ns)
    names = tuple(dict.fromkeys(namespaces))
    opts = ClusterOptions(kubeconfig=kubeconfig, context=context, namespaces=names)
    if request_timeout is not None:
        opts = replace(opts, request_timeout=flag_value("--request-timeout", parse_duration, request_timeout))
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
