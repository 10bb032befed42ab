"""Orchestration: inputs -> ClusterState -> engine -> AuditResult -> reports; one function per command."""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from auditor.analysis import blast, plan
from auditor.analysis.eksview import eks_view
from auditor.analysis.index import ClusterIndex
from auditor.engine.baseline import Baseline, load_baseline
from auditor.engine.baseline import apply as apply_baseline
from auditor.engine.run import run_rules
from auditor.errors import ConfigError, InputError
from auditor.facts import versions
from auditor.facts.nodes import eks_nodegroup, kubelet_version
from auditor.model import AuditResult, Finding, InputInfo, Written
from auditor.report.render import FILE_NAMES, write_reports
from auditor.rules import ALL_RULES, by_id
from auditor.rules.base import Options
from auditor.rules.rotation import ROTATION_RULES
from auditor.settings import Config, ReportSettings
from auditor.settings import load_config as _load_config
from auditor.state import snapshot
from auditor.state.clusterstate import ClusterState, format_time

LOG = logging.getLogger(__name__)


def load_config(path: str | None) -> Config:
    return _load_config(path, {r.id for r in ALL_RULES}, explicit=path is not None)


def load_states(specs: list[str] | list[Path]) -> ClusterState:
    """INPUT arguments (files, folders, `-`) merged into one state, completeness judged on the merge."""
    return snapshot.load_inputs([str(s) for s in specs])


def cluster_facts(state: ClusterState, target_version: str | None = None) -> dict[str, object]:
    facts: dict[str, object] = {}
    if target_version:
        facts["targetVersion"] = target_version
    if state.context:
        facts["context"] = state.context
    if state.server:
        facts["server"] = state.server
    if state.server_version:
        facts["serverVersion"] = state.server_version
    eks = state.eks_data
    if eks is not None:
        facts["eksCluster"] = eks.name or None
        facts["eksVersion"] = eks.cluster.version or None
        facts["eksPlatformVersion"] = eks.cluster.platform_version or None
    cp = versions.control_plane(state.server_version, eks.cluster.version if eks is not None else None)
    if cp is not None:
        facts["controlPlane"] = {"version": str(cp.version), "source": cp.source}
    groups: dict[str, int] = {}
    for node in state.of("Node"):
        ng = eks_nodegroup(node)
        if ng:
            groups[ng] = groups.get(ng, 0) + 1
    if groups:
        facts["nodeGroups"] = groups
    facts["takenAt"] = format_time(state.taken_at)
    facts["objects"] = {k: len(v) for k, v in state.objects.items()}
    return {k: v for k, v in facts.items() if v is not None}


def resolve_target(state: ClusterState, flag: str | None, config: Config, *, planning: bool) -> str | None:
    """--target-version, else config, else (with EKS data) the next minor for audit, AFTER's version for compare."""
    if flag:
        return versions.normalise_target(flag)
    if config.options.target_version:
        return config.options.target_version
    eks = state.eks_data
    if eks is not None:
        v = versions.parse(eks.cluster.version)
        if v is None:
            return None
        return str(v.next()) if planning else str(v)
    return None


def check_target(states: list[ClusterState], flag: str | None, config: Config) -> None:
    """A target below the control plane is a downgrade EKS cannot do: a usage error (exit 2), never findings."""
    text = versions.normalise_target(flag) if flag else config.options.target_version
    if not text:
        return
    where = "--target-version" if flag else f"{config.path}: target-version"
    target = versions.parse(text)
    assert target is not None
    for st in states:
        eks = st.eks_data
        cp = versions.control_plane(st.server_version, eks.cluster.version if eks is not None else None)
        if cp is not None:
            if target < cp.version:
                source = "the API server's /version" if cp.source == "apiserver" else "EKS"
                raise ConfigError(f"{where}: {target} is below the control plane's version {cp.version} "
                                  f"({cp.text}, from {source}): EKS cannot downgrade; give the version you are "
                                  f"upgrading to (for example {cp.version.next()})")
            continue
        kubelets = [v for v in (versions.parse(kubelet_version(n)) for n in st.of("Node")) if v]
        if kubelets and target < max(kubelets):  # a control plane is never older than its kubelets
            raise ConfigError(f"{where}: {target} is below the newest kubelet ({max(kubelets)}), so below the "
                              "control plane: EKS cannot downgrade; give the version you are upgrading to")


def check_order(before: ClusterState, after: ClusterState, allow_reversed: bool) -> tuple[str, ...]:
    """BEFORE taken after AFTER means swapped arguments: exit 2 unless --allow-reversed (then a notice)."""
    if before.taken_at < after.taken_at:
        return ()
    b, a = format_time(before.taken_at), format_time(after.taken_at)
    if before.taken_at > after.taken_at and not allow_reversed:
        names = f"{before.inputs[0].path if before.inputs else 'BEFORE'} and " \
                f"{after.inputs[0].path if after.inputs else 'AFTER'}"
        raise InputError(names, f"BEFORE was taken at {b}, after AFTER ({a}): the arguments look swapped "
                                "(compare BEFORE AFTER); pass --allow-reversed to compare them in this order")
    return (f"BEFORE ({b}) is not older than AFTER ({a}): are the arguments swapped?",)


def _options(config: Config, target: str | None, rotating: tuple[str, ...] | None = None) -> Config:
    options = replace(config.options, target_version=target)
    if rotating:  # the flag replaces the config's list
        options = replace(options, rotating=tuple(rotating))
    return replace(config, options=options)


def check_rotating(state: ClusterState, flag: tuple[str, ...], config: Config) -> None:
    """A --rotating (or config `rotating:`) name that is no node group of the state is a usage error (exit 2)
    naming the known groups, checked before any rule runs."""
    names = flag or config.options.rotating
    if not names:
        return
    where = "--rotating" if flag else f"{config.path}: rotating"
    try:
        plan.check_rotating(ClusterIndex(state), names)
    except plan.UnknownGroupError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def plan_json(index: ClusterIndex, config: Config) -> dict[str, Any]:
    """The rotation plan for the report, the same object the rotation rules read (memoised on the index)."""
    return plan.plan_of(index, config.options.target_version, config.options.rotating).to_json()


def baseline_of(report: ReportSettings) -> Baseline | None:
    """The --baseline report (read once, cached); a bad one is an InputError naming the file."""
    return load_baseline(report.baseline) if report.baseline is not None else None


def audit(paths: list[str] | list[Path], config: Config, report: ReportSettings, target: str | None,
          rotating: tuple[str, ...] = ()) -> Written:
    baseline_of(report)  # a bad baseline fails before the inputs are read
    state = load_states(paths)
    check_target([state], target, config)
    check_rotating(state, rotating, config)
    config = _options(config, resolve_target(state, target, config, planning=True), rotating)
    result = audit_state(state, config, report, mode="audit")
    return finish(result, report)


def audit_state(state: ClusterState, config: Config, report: ReportSettings, *, mode: str) -> AuditResult:
    index = ClusterIndex(state)
    rules = tuple(r for r in ALL_RULES if r.mode in ("single", "eks"))
    rotation_plan = plan_json(index, config)
    run = run_rules(rules, index, config, command=mode)
    result = AuditResult(
        mode=mode, inputs=tuple(state.inputs), findings=tuple(run.findings), suppressed=tuple(run.suppressed),
        fail_on=report.fail_on, rules=tuple(r.info() for r in rules),
        cluster=cluster_facts(state, config.options.target_version),
        eks=eks_view(index, config.options.target_version), notices=tuple(state.warnings) + tuple(run.notices),
        generated_at=format_time(datetime.now(timezone.utc)), runs=tuple(run.runs), warnings=tuple(run.warnings),
        plan=rotation_plan, blast_radius=blast.blast_radius(rotation_plan, run.findings))
    return apply_baseline(result, baseline_of(report))


def compare(before_path: Path, after_path: Path, config: Config, report: ReportSettings,
            target: str | None, *, allow_reversed: bool = False, rotating: tuple[str, ...] = ()) -> Written:
    baseline_of(report)
    if str(before_path) == str(after_path) == "-":
        raise InputError("-", "standard input can be read only once (BEFORE and AFTER are both '-')")
    before = load_states([before_path])
    after = load_states([after_path])
    check_order(before, after, allow_reversed)
    check_target([before, after], target, config)
    check_rotating(before, rotating, config)  # the plan is BEFORE's: the groups the upgrade was to replace
    config = _options(config, resolve_target(after, target, config, planning=False), rotating)
    result = compare_states(before, after, config, report, mode="compare")
    return finish(result, report)


def compare_states(before: ClusterState, after: ClusterState, config: Config, report: ReportSettings, *,
                   mode: str) -> AuditResult:
    """Single-state rules on AFTER plus the before/after rules, and the rotation summary."""
    from auditor.engine.rotation import RECONVERGENCE_RULES, summarise
    a_index, b_index = ClusterIndex(after), ClusterIndex(before)
    # a rule that belongs to another command (service-outage: verify only) is not part of this run at all
    rules = tuple(r for r in ALL_RULES if r.mode in ("single", "eks", "pair") and mode in r.commands)
    rotation_plan = plan_json(b_index, config)
    run = run_rules(rules, a_index, config, before=b_index, command=mode)
    run.findings = _with_predictions(run.findings, b_index, config)
    baseline = baseline_of(report)
    known = baseline.fingerprints if baseline is not None else frozenset()
    # Known findings (in the baseline) do not hold convergence back, as they do not fail the gate.
    rotation = summarise(b_index, a_index, [f for f in run.findings if f.fingerprint not in known])
    notices = tuple(before.warnings) + tuple(after.warnings) + tuple(run.notices)
    enabled = {r.id for r in rules if (o := config.rules.get(r.id)) is None or o.enabled}
    unrun = sorted((RECONVERGENCE_RULES & enabled) - {r.id for r in run.ran})
    if unrun:
        # A reconvergence rule that could not run (a kind missing from either state) proves nothing:
        # never call that converged.
        rotation["converged"] = False
        notices += (f"converged is false because {', '.join(unrun)} could not run on these inputs",)
    if before.taken_at >= after.taken_at:  # compare refuses a newer BEFORE unless --allow-reversed
        notices += (f"BEFORE ({format_time(before.taken_at)}) is not older than AFTER "
                    f"({format_time(after.taken_at)}): are the arguments swapped?",)
    result = AuditResult(
        mode=mode, inputs=tuple(before.inputs) + tuple(after.inputs), findings=tuple(run.findings),
        suppressed=tuple(run.suppressed), fail_on=report.fail_on, rules=tuple(r.info() for r in rules),
        cluster=cluster_facts(after, config.options.target_version), converged=rotation["converged"],
        rotation=rotation, eks=eks_view(a_index, config.options.target_version),
        notices=notices, generated_at=format_time(datetime.now(timezone.utc)), runs=tuple(run.runs),
        warnings=tuple(run.warnings), plan=rotation_plan)
    return apply_baseline(result, baseline)


def _with_predictions(findings: list[Finding], before: ClusterIndex, config: Config) -> list[Finding]:
    """Each `service-lost-endpoints` / `service-outage` finding names the pre-rotation risk BEFORE showed for
    its Service (`evidence.predicted`), when there was one: the same rules `audit` runs before an upgrade."""
    linked = {"service-lost-endpoints", "service-outage"}
    if not any(f.rule in linked for f in findings):
        return findings
    run = run_rules(ROTATION_RULES, before, config, command="audit")
    predicted = blast.predictions(run.findings)
    if not predicted:
        return findings
    out = []
    for f in findings:
        hits = predicted.get((f.object.namespace, f.object.name)) if f.rule in linked else None
        if hits:
            rules = ", ".join(dict.fromkeys(h["rule"] for h in hits))
            f = replace(f, message=f"{f.message} (predicted before the rotation: {rules})",
                        evidence={**f.evidence, "predicted": hits})
        out.append(f)
    return out


def finish(result: AuditResult, report: ReportSettings) -> Written:
    """Write the reports (then upload them); the CLI layer prints the outcome (`terminal.present`)."""
    paths = write_reports(result, report.output_dir, report.formats, report_url=report.report_url)
    urls: list[str] = []
    failure = None
    if report.upload:  # only once the local files are safely written
        from auditor.report.share import UploadError, upload_reports
        try:
            urls = _upload(result, report, paths, upload_reports)
        except UploadError as exc:
            failure = exc
    return Written(result, tuple(paths), tuple(urls), failure)


def _upload(result: AuditResult, report: ReportSettings, paths: list[Path], upload: Any) -> list[str]:
    """Upload the reports. Without --report-url, report.md goes last, rewritten to link the uploaded
    report.html, so a PR comment made from it points at the full report."""
    md = next((p for p in paths if p.name == FILE_NAMES["md"]), None)
    html = next((p for p in paths if p.name == FILE_NAMES["html"]), None)
    if report.report_url or md is None or html is None:
        return list(upload(paths, report.upload))
    first = [p for p in paths if p != md]
    urls = dict(zip(first, upload(first, report.upload), strict=True))
    write_reports(result, report.output_dir, ("md",), report_url=urls[html])
    urls[md] = upload([md], report.upload)[0]
    return [urls[p] for p in paths]


def rules_listing(fmt: str = "text") -> str:
    """`upgrade-auditor rules`: a table, or (json) one array with one object per rule, stable keys."""
    if fmt == "json":
        # like `ruff rule --all --output-format json`
        import orjson
        data = [{"id": r.id, "severity": r.severity.label, "title": r.title, "family": r.mode,
                 "commands": sorted(r.commands), "convergence": r.convergence, "needs": sorted(r.needs),
                 "options": list(r.options), "docs": r.docs} for r in ALL_RULES]
        return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode()
    width = max(len(r.id) for r in ALL_RULES)
    return "\n".join(f"{r.id.ljust(width)}  {r.severity.label:<7}  {r.mode:<6}  {r.title}" for r in ALL_RULES)


def explanation(rule_id: str) -> str:
    """`upgrade-auditor explain RULE`: the rule's documentation, the same text the reports show."""
    r = by_id(rule_id)
    if r is None:
        raise ConfigError(f"unknown rule {rule_id!r}; `upgrade-auditor rules` lists them")
    parts = [f"{r.id} ({r.severity.label}): {r.title}\n"]
    parts += [f"## {section}\n{text}\n" for section, text in r.docs.items()]
    return "\n".join(parts)


def demo(output_dir: Path) -> list[tuple[str, Written]]:
    """The whole job on the bundled example, writing every report format: the pre-flight audit of BEFORE for
    the node group the migration replaces (its blast radius), the audit of AFTER, and the compare that
    confirms what the pre-flight predicted. The CLI prints each step's title and summary (exit 0 unless
    something broke)."""
    from importlib import resources

    from auditor.settings import FORMATS
    data = resources.files("auditor.demo")
    config = Config(options=Options())
    steps: list[tuple[str, Written]] = []
    with resources.as_file(data / "before.json.gz") as bpath, resources.as_file(data / "after.json.gz") as apath:
        before_state, after_state = snapshot.load(bpath), snapshot.load(apath)
        # 1. before the migration: which Services will lose their endpoints when ng-blue is replaced
        pre = ReportSettings(output_dir=output_dir / "preflight", formats=FORMATS)
        pconfig = _options(config, resolve_target(before_state, None, config, planning=True), ("ng-blue",))
        result = audit_state(before_state, pconfig, pre, mode="audit")
        steps.append(("Demo 1/3: pre-flight audit of BEFORE, replacing node group ng-blue (--rotating ng-blue): "
                      "the blast radius", Written(result, tuple(write_reports(result, pre.output_dir, pre.formats)))))
        # 2. after it: the state the migration left
        report = ReportSettings(output_dir=output_dir / "audit", formats=FORMATS)
        aconfig = _options(config, resolve_target(after_state, None, config, planning=True))
        result = audit_state(after_state, aconfig, report, mode="audit")
        steps.append(("Demo 2/3: audit of the cluster state after the blue/green node group migration",
                      Written(result, tuple(write_reports(result, report.output_dir, report.formats)))))
        # 3. BEFORE against AFTER: what the rotation broke, linked to what the pre-flight predicted
        creport = ReportSettings(output_dir=output_dir / "compare", formats=FORMATS)
        cconfig = _options(config, resolve_target(after_state, None, config, planning=False))
        cresult = compare_states(before_state, after_state, cconfig, creport, mode="compare")
        steps.append(("Demo 3/3: compare BEFORE and AFTER of the same migration (each loss linked to its "
                      "pre-flight risk)", Written(cresult, tuple(write_reports(cresult, creport.output_dir,
                                                                                 creport.formats)))))
    return steps


__all__ = ["audit", "compare", "demo", "explanation", "finish", "rules_listing", "load_config", "InputInfo"]
