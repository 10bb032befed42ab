"""EKS rule helpers, and JSON-readiness of the EKS rules' evidence (the cases run in tests/rules)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from auditor.rules.base import Context, Options, Rule
from auditor.rules.eks import EKS_RULES, allowed_skew, parse_minor

from auditor.index import ClusterIndex
from auditor.model import Finding
from auditor import kinds as registry
from auditor.objects import KubeObject
from auditor.state import ClusterState, parse_time

CASES = Path(__file__).resolve().parents[1] / "rules" / "cases"


def _state(raw: dict[str, Any]) -> ClusterState:
    objects: dict[str, list[KubeObject]] = {k: [] for k in registry.ALL}
    for obj in raw.get("objects") or ():
        objects[obj["kind"]].append(msgspec.convert(obj, KubeObject, str_keys=True))
    taken = parse_time(raw["takenAt"])
    assert taken is not None
    return ClusterState(objects=objects, taken_at=taken, inputs=[], present=set(registry.ALL),
                        server_version=raw.get("serverVersion"), eks=raw.get("eks"))


def _run(r: Rule, case: dict[str, Any]) -> list[Finding]:
    ctx = Context(index=ClusterIndex(_state(case["state"])), options=Options(**(case.get("options") or {})),
                  rule=r)
    return list(r.check(ctx))


def _cases() -> list[Any]:
    out = []
    for r in EKS_RULES:
        doc = yaml.safe_load((CASES / f"{r.id}.yaml").read_text())
        assert doc["rule"] == r.id
        out += [pytest.param(r, c, id=f"{r.id}: {c['name']}") for c in doc["cases"]]
    return out


def test_findings_are_json_ready() -> None:
    """Evidence goes into report.json as is."""
    for r, case in (p.values for p in _cases()):
        for f in _run(r, case):
            msgspec.json.encode(f.as_dict())


@pytest.mark.parametrize(("text", "minor"), [
    ("1.30", (1, 30)), ("v1.30.4-eks-a737599", (1, 30)), ("1.31+", (1, 31)),
    ("x.30", None), ("", None), (None, None), ("v1", None)])
def test_parse_minor(text: str | None, minor: tuple[int, int] | None) -> None:
    assert parse_minor(text) == minor


def test_allowed_skew() -> None:
    # n-3 needs a 1.28+ control plane and a kubelet from 1.25; before that n-2
    assert [allowed_skew((1, m), (1, m + 3)) for m in (24, 25, 26, 27)] == [2, 3, 3, 3]
    assert allowed_skew((1, 25), (1, 27)) == 2 and allowed_skew((1, 29), (1, 31)) == 3
