"""The rule type and the context a check sees (auditor.rules.base), built inside the tests: a Rule made at import
time is made before any test can look at how."""
from __future__ import annotations

from datetime import timedelta
from typing import Iterator

import builders as b
import pytest
from auditor.rules import ALL_RULES, by_id, convergence_rules
from auditor.rules.base import COMMANDS, Context, Options, Rule, rule
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.model import Finding, ObjectRef, RuleInfo, Severity

T = b.at("2026-11-20T10:00:00Z")


def check(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags the thing.

    ## How to fix
    Do this first,
    then that.

    Only then the rest.
    """
    yield ctx.finding(ObjectRef("Service", "shop", "cart"), "found")


def bare(ctx: Context) -> Iterator[Finding]:
    yield from ()


def test_rule_builds_every_field() -> None:
    r = rule("thing-found", Severity.ERROR, "A thing", mode="pair", needs=["Pod", "Service", "Pod"],
             commands=["compare"], convergence=True, options=["grace_seconds", "rotating"])(check)
    assert r == Rule(id="thing-found", severity=Severity.ERROR, title="A thing", check=check, mode="pair",
                     needs=frozenset({"Pod", "Service"}), commands=frozenset({"compare"}), convergence=True,
                     options=("grace_seconds", "rotating"))
    assert isinstance(r.needs, frozenset) and isinstance(r.commands, frozenset) and isinstance(r.options, tuple)


def test_rule_defaults() -> None:
    r = rule("thing-found", Severity.WARNING, "A thing")(check)
    assert (r.mode, r.needs, r.commands, r.convergence, r.options) == ("single", frozenset(), COMMANDS, False, ())
    assert COMMANDS == frozenset({"audit", "compare", "verify"})


def test_docs_and_remediation_come_from_the_docstring() -> None:
    r = rule("thing-found", Severity.WARNING, "A thing")(check)
    assert r.docs == {"What it does": "Flags the thing.",
                      "How to fix": "Do this first,\nthen that.\n\nOnly then the rest."}
    assert r.remediation == "Do this first, then that."  # the first paragraph, on one line
    assert r.info() == RuleInfo(id="thing-found", severity=Severity.WARNING, title="A thing", docs=r.docs,
                                remediation="Do this first, then that.")


def test_a_check_without_docstring_has_no_docs() -> None:
    r = rule("bare", Severity.INFO, "Bare")(bare)
    assert (r.docs, r.remediation) == ({}, "")


def context(grace: int = 120, r: Rule | None = None) -> Context:
    index = ClusterIndex(state_from({"takenAt": b.ts(T), "objects": []}))
    return Context(index, Options(grace_seconds=grace), rule=r)


@pytest.mark.parametrize(("age", "grace", "recent"), [(59, 60, True), (60, 60, False), (61, 60, False),
                                                       (0, 0, False), (-5, 0, True)])
def test_recent_is_strictly_inside_the_grace_period(age: int, grace: int, recent: bool) -> None:
    ctx = context(grace)
    assert ctx.now == T and ctx.cutoff == T - timedelta(seconds=grace)
    assert ctx.recent(T - timedelta(seconds=age)) is recent
    assert ctx.recent(None) is False


def test_finding_carries_the_rule_and_drops_empty_evidence() -> None:
    r = rule("thing-found", Severity.WARNING, "A thing")(check)
    ctx = context(r=r)
    ref = ObjectRef("Service", "shop", "cart")
    f = ctx.finding(ref, "found", key="k", fix=iter(["kubectl -n shop get service cart"]), pods=2, note=None,
                    zero=0, empty="")
    assert f == Finding(rule="thing-found", severity=Severity.WARNING, object=ref, message="found",
                        remediation="Do this first, then that.", evidence={"pods": 2, "zero": 0, "empty": ""},
                        key="k", fix=("kubectl -n shop get service cart",))
    assert ctx.finding(ref, "worse", severity=Severity.ERROR).severity is Severity.ERROR
    assert list(r.check(ctx)) == [ctx.finding(ref, "found")]


def test_rules_by_id() -> None:
    assert by_id("stale-endpointslice") is next(r for r in ALL_RULES if r.id == "stale-endpointslice")
    assert by_id("no-such-rule") is None
    assert convergence_rules() == frozenset(r.id for r in ALL_RULES if r.convergence)
