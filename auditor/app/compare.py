"""`compare`: BEFORE against AFTER: the single-state rules on AFTER, the before/after rules, the rotation summary."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from auditor.analysis import blast, traffic
from auditor.analysis.eksview import eks_view
from auditor.analysis.index import ClusterIndex
from auditor.app.audit import cluster_facts, no_cyclic_gc, plan_json
from auditor.app.inputs import (
    baseline_of,
    check_order,
    check_rotating,
    check_target,
    load_states,
    resolve_target,
    with_options,
)
from auditor.app.publish import finish
from auditor.engine import verdict
from auditor.engine.baseline import apply as apply_baseline
from auditor.engine.rotation import summarise
from auditor.engine.run import run_rules
from auditor.errors import InputError
from auditor.model import AuditResult, Finding, Written
from auditor.rules import ALL_RULES
from auditor.rules.rotation import ROTATION_RULES
from auditor.settings import Config, ReportSettings
from auditor.state.clusterstate import ClusterState, format_time


@dataclass(frozen=True)
class CompareSettings:
    """What `compare` was asked: BEFORE and AFTER, the config, the reports and the flags that shape the run."""

    before: Path
    after: Path
    config: Config
    report: ReportSettings
    target: str | None = None
    allow_reversed: bool = False
    rotating: tuple[str, ...] = ()


def compare(settings: CompareSettings) -> Written:
    with no_cyclic_gc():  # as audit: a batch command of millions of objects, none in a reference cycle
        return _compare(settings)


def _compare(settings: CompareSettings) -> Written:
    config, report = settings.config, settings.report
    baseline_of(report)
    if str(settings.before) == str(settings.after) == "-":
        raise InputError("-", "standard input can be read only once (BEFORE and AFTER are both '-')")
    before = load_states([settings.before])
    after = load_states([settings.after])
    check_order(before, after, settings.allow_reversed)
    check_target([before, after], settings.target, config)
    check_rotating(before, settings.rotating, config)  # the plan is BEFORE's: the groups the upgrade was to replace
    config = with_options(config, resolve_target(after, settings.target, config, planning=False), settings.rotating)
    return finish(compare_states(before, after, config, report, mode="compare"), report)


def compare_states(before: ClusterState, after: ClusterState, config: Config, report: ReportSettings, *,
                   mode: str) -> AuditResult:
    """Single-state rules on AFTER plus the before/after rules, and the rotation summary with its verdict."""
    a_index, b_index = ClusterIndex(after), ClusterIndex(before)
    # a rule that belongs to another command (service-outage: verify only) is not part of this run at all
    rules = tuple(r for r in ALL_RULES if r.mode in ("single", "eks", "pair") and mode in r.commands)
    rotation_plan = plan_json(b_index, config)
    run = run_rules(rules, a_index, config, before=b_index, command=mode)
    run.findings = _with_predictions(run.findings, b_index, config)
    baseline = baseline_of(report)
    unrun = verdict.unrun_rules(rules, config, run.ran)
    # Convergence is a fact about the cluster: findings known to the baseline hold it back too (the gate, not
    # the verdict, is where a baseline counts: AuditResult.gate).
    rotation = summarise(b_index, a_index, run.findings, unrun)
    notices = tuple(before.warnings) + tuple(after.warnings) + tuple(run.notices)
    if unrun:
        notices += (verdict.unrun_notice(unrun),)
    if before.taken_at >= after.taken_at:  # compare refuses a newer BEFORE unless --allow-reversed
        notices += (f"BEFORE ({format_time(before.taken_at)}) is not older than AFTER "
                    f"({format_time(after.taken_at)}): are the arguments swapped?",)
    result = AuditResult(
        mode=mode, inputs=tuple(before.inputs) + tuple(after.inputs), findings=tuple(run.findings),
        suppressed=tuple(run.suppressed), fail_on=report.fail_on, rules=tuple(r.info() for r in rules),
        cluster=cluster_facts(after, config.options.target_version), converged=rotation["converged"],
        rotation=rotation, eks=eks_view(a_index, config.options.target_version),
        notices=notices, generated_at=format_time(datetime.now(timezone.utc)), runs=tuple(run.runs),
        warnings=tuple(run.warnings), plan=rotation_plan, traffic=traffic.traffic_view(a_index, b_index))
    a_index.release()
    b_index.release()
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
