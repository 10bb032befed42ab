"""Runs every rule case file: objects in, exactly the expected findings out, each pinned whole by a snapshot."""
from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from auditor.rules import ALL_RULES, by_id
from auditor.rules.base import Options
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.engine.run import EngineRun, run_rules
from auditor.model import Finding
from auditor.settings import Config

CASES = Path(__file__).parent / "cases"
SNAPSHOTS = Path(__file__).parent / "snapshots"
#: libyaml's loader when built in: some case files hold 1000-address objects (truncated-endpoints)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SLUG_MAX = 90


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


def slug(name: str) -> str:
    """A case name as a file name: lower-case words joined by '-', cut at a word boundary."""
    text = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if len(text) > _SLUG_MAX:
        text = text[:_SLUG_MAX].rsplit("-", 1)[0]
    return text


def snapshot_path(rule_id: str, case_name: str) -> Path:
    return SNAPSHOTS / rule_id / f"{slug(case_name)}.snap"


def _run(rule_id: str, case: dict[str, Any]) -> EngineRun:
    rule = by_id(rule_id)
    assert rule is not None, f"unknown rule {rule_id}"
    raw = case.get("options") or {}
    options = Options(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})  # rotating: [...]
    index = ClusterIndex(state_from(case["state"], "after"))
    before = ClusterIndex(state_from(case["before"], "before")) if case.get("before") else None
    return run_rules([rule], index, Config(options=options), before=before)


def _finding(f: Finding) -> dict[str, Any]:
    """The whole finding as report.json encodes it (so every rule's evidence is proven JSON-ready), plus the
    key that separates findings on one object and always the fix list, empty when the rule offers none."""
    out: dict[str, Any] = json.loads(msgspec.json.encode(f.as_dict()))
    out["fix"] = list(f.fix)
    out["key"] = f.key
    return out


def _order(f: Finding) -> tuple[Any, ...]:
    return (*f.sort_key, f.key, f.fingerprint)


def render(rule_id: str, case: dict[str, Any], run: EngineRun) -> str:
    """The snapshot text: a header naming the case, then what the rule said (findings, suppressed findings),
    or why it did not run. YAML with sorted keys; findings in report order, ties broken by key."""
    header = {"case": case["name"], "rule": rule_id, "source": f"tests/rules/cases/{rule_id}.yaml"}
    ran = {r.rule: r for r in run.runs}[rule_id]
    body: dict[str, Any]
    if not ran.ran:
        body = {"not_run": {"reason": ran.reason.value if ran.reason else "", "detail": ran.detail}}
    else:
        body = {"findings": [_finding(f) for f in sorted(run.findings, key=_order) if f.rule == rule_id]}
        suppressed = sorted((s for s in run.suppressed if s.finding.rule == rule_id), key=lambda s: _order(s.finding))
        if suppressed:
            body["suppressed"] = [{**_finding(s.finding), "reason": s.reason} for s in suppressed]
    dump = {"sort_keys": True, "default_flow_style": False, "allow_unicode": True, "width": 120}
    return "---\n" + yaml.safe_dump(header, **dump) + "---\n" + yaml.safe_dump(body, **dump)


def _updating(config: pytest.Config) -> bool:
    return bool(config.getoption("--snapshot-update", default=False)) or os.environ.get("UPDATE_SNAPSHOTS") == "1"


def assert_snapshot(path: Path, text: str, config: pytest.Config) -> None:
    """Compare with the reviewed snapshot; UPDATE_SNAPSHOTS=1 (or --snapshot-update) writes it instead."""
    if _updating(config):
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return
    rel = path.relative_to(Path(__file__).parent)
    how = "run `UPDATE_SNAPSHOTS=1 pytest tests/rules` to write it, then review the file before committing"
    assert path.exists(), f"no snapshot {rel}: {how}\n{text}"
    want = path.read_text()
    if want != text:
        diff = "".join(difflib.unified_diff(want.splitlines(True), text.splitlines(True),
                                            f"{rel} (reviewed)", f"{rel} (produced)"))
        pytest.fail(f"snapshot {rel} differs: {how}\n{diff}", pytrace=False)


@pytest.mark.parametrize("rule_id,case", ALL_CASES, ids=[f"{r}: {c['name']}" for r, c in ALL_CASES])
def test_rule_case(rule_id: str, case: dict[str, Any], pytestconfig: pytest.Config) -> None:
    run = _run(rule_id, case)
    crashed = [f for f in run.findings if f.rule == "internal-error"]
    assert not crashed, crashed[0].message
    ran = {r.rule: r for r in run.runs}[rule_id]
    # The case's own expectations state its intent; the snapshot below pins every detail of the outcome.
    if case.get("not_run"):
        # the rule must say it did not run, and why: never a silent pass
        assert not ran.ran and case["not_run"] in ran.detail, ran
    else:
        assert ran.ran, f"{rule_id} did not run ({ran.detail}): a guard that does not run proves nothing"
        _assert_expected(rule_id, case, run)
    path = snapshot_path(rule_id, case["name"])
    if case.get("disputed"):
        # A reviewer found this output wrong: pinning it would bless it. The case says why; once the rule is
        # fixed, drop `disputed`, write the snapshot and review it.
        if _updating(pytestconfig):
            path.unlink(missing_ok=True)
        assert not path.exists(), f"{path.name}: a disputed case has no snapshot (UPDATE_SNAPSHOTS=1 removes it)"
        pytest.xfail(f"output disputed in review, not snapshotted: {case['disputed']}")
    assert_snapshot(path, render(rule_id, case, run), pytestconfig)


def _assert_expected(rule_id: str, case: dict[str, Any], run: EngineRun) -> None:
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


def test_every_snapshot_belongs_to_a_case(pytestconfig: pytest.Config) -> None:
    """Case names map to distinct files, and no snapshot outlives its case (a renamed case leaves none behind) or
    pins an output a review disputed."""
    paths = [snapshot_path(r, c["name"]) for r, c in ALL_CASES]
    clashes = sorted({str(p) for p in paths if paths.count(p) > 1})
    assert not clashes, f"case names that make the same snapshot file (rename one): {clashes}"
    pinned = {snapshot_path(r, c["name"]) for r, c in ALL_CASES if not c.get("disputed")}
    orphans = sorted(set(SNAPSHOTS.glob("*/*.snap")) - pinned)
    if _updating(pytestconfig):
        for p in orphans:
            p.unlink()
        return
    assert not orphans, f"snapshots without a case (UPDATE_SNAPSHOTS=1 removes them): {orphans}"


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
