"""EKS rule helpers, and JSON-readiness of the EKS rules' evidence (the cases run in tests/rules)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml
from auditor.rules.base import Options, Rule
from auditor.rules.eks import EKS_RULES

from auditor.analysis.index import ClusterIndex
from auditor.engine.run import run_rules
from auditor.model import Finding
from auditor.settings import Config
from auditor.state import kinds as registry
from auditor.state.clusterstate import ClusterState, parse_time
from auditor.state.objects import KubeObject

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
    run = run_rules([r], ClusterIndex(_state(case["state"])), Config(options=Options(**(case.get("options") or {}))))
    return run.findings


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
