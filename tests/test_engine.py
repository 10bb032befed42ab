"""The engine: isolation of crashing rules, needs-gating, sorting and suppression in one place."""
from __future__ import annotations

from auditor.rules.base import Context, Options, parse_doc, rule
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.engine.run import run_rules
from auditor.model import ObjectRef, Severity
from auditor.settings import Config

STATE = {"takenAt": "2026-11-20T10:00:00Z", "objects": []}


@rule("boom", Severity.WARNING, "always crashes")
def boom(ctx: Context):  # type: ignore[no-untyped-def]
    """## What it does\nx"""
    raise KeyError("spec")
    yield  # pragma: no cover


@rule("two", Severity.WARNING, "two findings")
def two(ctx: Context):  # type: ignore[no-untyped-def]
    yield ctx.finding(ObjectRef("Service", "b", "z"), "second")
    yield ctx.finding(ObjectRef("Service", "a", "y"), "first", severity=Severity.ERROR)


@rule("needs-pods", Severity.ERROR, "needs pods", needs=("Pod",))
def needs_pods(ctx: Context):  # type: ignore[no-untyped-def]
    yield ctx.finding(ObjectRef("Cluster", "", "x"), "ran")


def test_crashing_rule_is_an_internal_error_finding_and_others_still_run() -> None:
    run = run_rules([boom, two], ClusterIndex(state_from(STATE)), Config())
    rules = [f.rule for f in run.findings]
    assert rules.count("internal-error") == 1 and rules.count("two") == 2
    ie = next(f for f in run.findings if f.rule == "internal-error")
    assert "boom" in ie.message and "KeyError" in ie.message and ie.severity is Severity.ERROR


def test_findings_sorted_by_severity_rule_namespace_name() -> None:
    run = run_rules([two], ClusterIndex(state_from(STATE)), Config())
    assert [(f.severity, f.object.namespace) for f in run.findings] == [(Severity.ERROR, "a"), (Severity.WARNING, "b")]
    assert run.findings[0].fingerprint != run.findings[1].fingerprint


def test_rule_needing_a_missing_kind_does_not_run_and_says_so() -> None:
    state = state_from({**STATE, "missing": [{"kind": "Pod", "reason": "forbidden"}]})
    run = run_rules([needs_pods], ClusterIndex(state), Config())
    assert run.findings == [] and "needs-pods did not run" in run.notices[0]


def test_parse_doc_sections() -> None:
    doc = parse_doc("## What it does\nA\n\n## How to fix\nB\nC")
    assert doc == {"What it does": "A", "How to fix": "B\nC"}


def test_grace_period_option_reaches_rules() -> None:
    ctx = Context(index=ClusterIndex(state_from(STATE)), options=Options(grace_seconds=60))
    from auditor.state.clusterstate import parse_time
    assert ctx.recent(parse_time("2026-11-20T09:59:30Z"))
    assert not ctx.recent(parse_time("2026-11-20T09:58:30Z"))


# -- suppressions, decided in one place ------------------------------------------------------------------
from auditor.rules.base import RuleNotRun  # noqa: E402

from auditor.model import NotRun  # noqa: E402
from auditor.settings import Exclude  # noqa: E402


def _svc(name: str, ns: str = "shop", labels: dict | None = None, annotations: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": f"u-{name}", "labels": labels or {},
                         "annotations": annotations or {}, "creationTimestamp": "2026-11-01T00:00:00Z"},
            "spec": {"selector": {"app": name}}}


@rule("per-service", Severity.WARNING, "one finding per Service in the state and in BEFORE", mode="pair")
def per_service(ctx: Context):  # type: ignore[no-untyped-def]
    seen = set(ctx.index.services)
    for key in sorted(seen | (set(ctx.before.services) if ctx.before else set())):
        yield ctx.finding(ObjectRef("Service", key[0], key[1]), "flagged")


def _run(objects: list[dict], config: Config, before: list[dict] | None = None):  # type: ignore[no-untyped-def]
    idx = ClusterIndex(state_from({"takenAt": "2026-11-20T10:00:00Z", "objects": objects}))
    b = ClusterIndex(state_from({"takenAt": "2026-11-20T08:00:00Z", "objects": before or []}))
    return run_rules([per_service], idx, config, before=b)


def test_config_exclude_by_labels_suppresses_only_matching_objects() -> None:
    ex = Exclude(reason="team accepts it", labels=(("team", "db"),))
    run = _run([_svc("a", labels={"team": "db"}), _svc("b", labels={"team": "web"})], Config(excludes=(ex,)))
    assert [f.object.name for f in run.findings] == ["b"]
    assert [(s.finding.object.name, s.reason) for s in run.suppressed] == [("a", "team accepts it")]


def test_star_annotation_suppresses_every_rule_and_names_the_object() -> None:
    run = _run([_svc("a", annotations={"upgrade-auditor.io/ignore": "*"}), _svc("b")], Config())
    assert [f.object.name for f in run.findings] == ["b"]
    assert "upgrade-auditor.io/ignore" in run.suppressed[0].reason and "shop/a" in run.suppressed[0].reason


def test_annotation_for_another_rule_does_not_suppress() -> None:
    run = _run([_svc("a", annotations={"upgrade-auditor.io/ignore": "stale-endpoints"})], Config())
    assert [f.object.name for f in run.findings] == ["a"] and not run.suppressed


def test_object_only_in_before_is_matched_by_its_before_labels() -> None:
    ex = Exclude(reason="retired on purpose", labels=(("retired", "true"),))
    run = _run([], Config(excludes=(ex,)), before=[_svc("gone", labels={"retired": "true"})])
    assert not run.findings and run.suppressed[0].finding.object.name == "gone"


@rule("cannot-judge", Severity.WARNING, "raises RuleNotRun")
def cannot_judge(ctx: Context):  # type: ignore[no-untyped-def]
    raise RuleNotRun("no data for the target 1.32")
    yield  # pragma: no cover


def test_rule_runs_are_recorded_structurally() -> None:
    idx = ClusterIndex(state_from(STATE))
    run = run_rules([two, cannot_judge, needs_pods], idx, Config())
    runs = {r.rule: r for r in run.runs}
    assert runs["two"].ran and runs["two"].findings == 2
    assert not runs["cannot-judge"].ran and runs["cannot-judge"].reason is NotRun.NO_DATA
    assert "1.32" in runs["cannot-judge"].detail
