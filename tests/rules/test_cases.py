"""Runs every rule case file: objects in, exactly the expected findings out (and guards that must not fire)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from auditor.rules import ALL_RULES, by_id
from auditor.rules.base import Options
from statekit import state_from

from auditor.analysis.index import ClusterIndex
from auditor.engine.run import run_rules
from auditor.settings import Config

CASES = Path(__file__).parent / "cases"
#: libyaml's loader when built in: some case files hold 1000-address objects (truncated-endpoints)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read(f: Path) -> Any:
    return yaml.load(f.read_text(), Loader=_LOADER)  # noqa: S506 - a safe loader


def _load() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for f in sorted(CASES.glob("*.yaml")):
        doc = _read(f)
        for case in doc["cases"]:
            out.append((doc["rule"], case))
    return out


ALL_CASES = _load()


@pytest.mark.parametrize("rule_id,case", ALL_CASES, ids=[f"{r}: {c['name']}" for r, c in ALL_CASES])
def test_rule_case(rule_id: str, case: dict[str, Any]) -> None:
    rule = by_id(rule_id)
    assert rule is not None, f"unknown rule {rule_id}"
    raw = case.get("options") or {}
    options = Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})  # rotating: [...]
    index = ClusterIndex(state_from(case["state"], "after"))
    before = ClusterIndex(state_from(case["before"], "before")) if case.get("before") else None
    run = run_rules([rule], index, Config(options=options), before=before)
    crashed = [f for f in run.findings if f.rule == "internal-error"]
    assert not crashed, crashed[0].message
    ran = {r.rule: r for r in run.runs}[rule_id]
    if case.get("not_run"):
        # the rule must say it did not run, and why: never a silent pass
        assert not ran.ran and case["not_run"] in ran.detail, ran
        return
    assert ran.ran, f"{rule_id} did not run ({ran.detail}): a guard that does not run proves nothing"
    got = sorted((((f.object.kind, f.object.namespace, f.object.name), f) for f in run.findings
                  if f.rule == rule_id), key=lambda kv: kv[0])
    want = sorted((((e["kind"], e.get("namespace", ""), e["name"]), e) for e in case.get("expect") or []),
                  key=lambda kv: kv[0])
    assert [g[0] for g in got] == [w[0] for w in want], (
        "findings differ:\n got: " + "\n      ".join(f"{f.object} [{f.severity.label}] {f.message}" for _, f in got))
    for (_, f), (_, e) in zip(got, want, strict=True):
        assert "severity" in e, f"{f.object}: every expected finding states its severity"
        assert f.severity.label == e["severity"], f"{f.object}: severity {f.severity.label}"
        if "message" in e:
            assert e["message"] in f.message, f"{f.object}: message {f.message!r}"
        if "evidence" in e:
            assert_subset(e["evidence"], f.evidence, f"{f.object}: evidence")


def assert_subset(want: Any, got: Any, where: str) -> None:
    """Every key (and list item) the case names is in the evidence; lists match item by item in order."""
    if isinstance(want, dict):
        assert isinstance(got, dict), f"{where}: expected a mapping, got {got!r}"
        for k, v in want.items():
            assert k in got, f"{where}: no key {k!r} in {sorted(got)}"
            assert_subset(v, got[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) >= len(want), f"{where}: expected {len(want)}+ items, got {got!r}"
        for i, (w, g) in enumerate(zip(want, got, strict=False)):
            assert_subset(w, g, f"{where}[{i}]")
    else:
        assert want == got, f"{where}: {got!r} != {want!r}"


def test_every_rule_has_docs_and_cases() -> None:
    docs = [_read(f) for f in CASES.glob("*.yaml")]
    files = {doc["rule"]: doc for doc in docs}
    for rule in ALL_RULES:
        assert rule.id and rule.id == rule.id.lower() and " " not in rule.id
        assert rule.title
        for section in ("What it does", "Why it matters", "Example", "How to fix"):
            assert rule.docs.get(section), f"{rule.id}: docs lack '{section}'"
        assert rule.id in files, f"{rule.id}: no case file tests/rules/cases/{rule.id}.yaml"
        cases = files[rule.id]["cases"]
        assert any(c.get("expect") for c in cases), f"{rule.id}: no firing case"
        assert any(not c.get("expect") and not c.get("not_run") for c in cases), f"{rule.id}: no guard case"
