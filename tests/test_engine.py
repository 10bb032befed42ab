"""The engine: isolation of crashing rules, needs-gating, sorting and suppression in one place."""
from __future__ import annotations

from auditor.rules.base import Context, Options, parse_doc, rule
from statekit import state_from

from auditor.engine import run_rules
from auditor.index import ClusterIndex
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
    from auditor.state import parse_time
    assert ctx.recent(parse_time("2026-11-20T09:59:30Z"))
    assert not ctx.recent(parse_time("2026-11-20T09:58:30Z"))
