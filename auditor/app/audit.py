"""`audit`: the single-state rules on one cluster state (files, folders or stdin merged), its plan and blast radius."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import combinations
from typing import Any, Iterator

from auditor.analysis import blast, plan, traffic
from auditor.analysis.eksview import eks_view
from auditor.analysis.index import ClusterIndex
from auditor.app.inputs import baseline_of, check_rotating, check_target, load_states, resolve_target, with_options
from auditor.app.publish import finish
from auditor.engine.baseline import apply as apply_baseline
from auditor.engine.run import run_rules
from auditor.errors import ConfigError
from auditor.facts import versions
from auditor.facts.nodes import eks_nodegroup
from auditor.model import AuditResult, InputInfo, Written
from auditor.rules import ALL_RULES
from auditor.settings import Config, ReportSettings
from auditor.state.clusterstate import ClusterState, format_time, parse_time
from auditor.state.snapshot import gc_paused, namespace_notices


@dataclass(frozen=True)
class AuditSettings:
    """What `audit` was asked: the INPUT arguments, the config, the reports, --target-version, --rotating."""

    inputs: tuple[str, ...]
    config: Config
    report: ReportSettings
    target: str | None = None
    rotating: tuple[str, ...] = ()
    merge: bool = False  # --merge: whole snapshots of different moments audited as one state all the same
    namespace: str = "default"  # -n: where namespaced objects without a namespace go, as kubectl apply puts them


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """The cyclic GC off for a whole batch command: load, rules, reports.

    A 100k-Pod state is millions of objects, and the index, the rules and the reports allocate millions more:
    each full collection walks every one of them again (a fifth of an audit's CPU, measured), to free reference
    cycles that none of these stages makes (the peak RSS is the same with the GC off). Reference counting frees
    everything as usual; the GC is back as it was once the command is done, with what the command left alive
    frozen first (`gc.freeze`): re-enabled as is, its first allocation would set off one full collection of
    everything allocated meanwhile (a second at 100k Pods)."""
    with gc_paused():
        yield


def audit(settings: AuditSettings) -> Written:
    with no_cyclic_gc():
        return _audit(settings)


def _audit(settings: AuditSettings) -> Written:
    config, report = settings.config, settings.report
    baseline_of(report)  # a bad baseline fails before the inputs are read
    state = load_states(list(settings.inputs), default_namespace=settings.namespace)
    if not settings.merge:
        check_one_moment(state.inputs)
    check_target([state], settings.target, config)
    check_rotating(state, settings.rotating, config)
    config = with_options(config, resolve_target(state, settings.target, config, planning=True), settings.rotating)
    return finish(audit_state(state, config, report, mode="audit"), report)


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
        generated_at=format_time(datetime.now(timezone.utc)), runs=tuple(run.runs),
        warnings=tuple(run.warnings) + namespace_notices(state.warnings),
        plan=rotation_plan, blast_radius=blast.blast_radius(rotation_plan, run.findings),
        traffic=traffic.traffic_view(index))
    index.release()
    return apply_baseline(result, baseline_of(report))


#: Two whole snapshots taken further apart than this are two moments of the cluster, not one state.
SAME_MOMENT_SECONDS = 60.0


def check_one_moment(inputs: list[InputInfo]) -> None:
    """`audit` of two whole-cluster snapshots of different moments (labelled before and after, or taken apart)
    is a `compare` typed as `audit`: merged, they would be one state that never existed (exit 2, unless
    --merge). Namespace-scoped snapshots and kubectl dumps are parts of a state, and merge as such."""
    whole = [i for i in inputs if i.format == "snapshot" and not (i.source or {}).get("namespaces")]
    for a, b in combinations(whole, 2):
        ta, tb = parse_time(a.taken_at), parse_time(b.taken_at)
        labels = {a.label, b.label}
        apart = ta is not None and tb is not None and abs((tb - ta).total_seconds()) > SAME_MOMENT_SECONDS
        if apart or labels == {"before", "after"}:
            first, second = sorted((a, b), key=lambda i: (i.taken_at, {"before": 0, "after": 2}.get(i.label, 1)))
            raise ConfigError(
                f"{first.path} ({first.label or 'snapshot'}, {first.taken_at}) and {second.path} "
                f"({second.label or 'snapshot'}, {second.taken_at}) are whole snapshots of the cluster at different "
                f"moments: did you mean `compare {first.path} {second.path}`? (--merge audits them as one state)")


def plan_json(index: ClusterIndex, config: Config) -> dict[str, Any]:
    """The rotation plan for the report, the same object the rotation rules read (memoised on the index)."""
    return plan.plan_of(index, config.options.target_version, config.options.rotating).to_json()


def cluster_facts(state: ClusterState, target_version: str | None = None) -> dict[str, object]:
    """The report's `cluster` block: where the state came from, its versions, node groups and object counts."""
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
