"""Optional kinds (PDBs, workloads, Karpenter's CRDs): read when served, never making a snapshot incomplete."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from auditor.state.snapshot import load
from tests import clusterfactory
from tests.apidouble import ApiDouble
from tests.collect.test_collect_snapshot import Snap


def _read(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)


def _pdb(ns: str, app: str) -> dict[str, Any]:
    return {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
            "metadata": {"name": app, "namespace": ns, "uid": f"pdb-{ns}-{app}", "creationTimestamp": clusterfactory.T0,
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"secret": "x"}'}},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": app}}},
            "status": {"currentHealthy": 2, "desiredHealthy": 1, "disruptionsAllowed": 1, "expectedPods": 2}}


def _deployment(ns: str, app: str) -> dict[str, Any]:
    return {"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": app, "namespace": ns, "uid": f"dep-{ns}-{app}",
                         "creationTimestamp": clusterfactory.T0},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": app}},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx",
                                                           "env": [{"name": "DB_PASSWORD", "value": "hunter2"}],
                                                           "command": ["sh", "-c", "TOKEN=s3cr3t run"],
                                                           "readinessProbe": {"httpGet": {"path": "/ready",
                                                                                          "port": 8080}}}]}}},
            "status": {"replicas": 2, "readyReplicas": 2}}


def _nodeclaim(name: str, node: str) -> dict[str, Any]:
    return {"kind": "NodeClaim", "apiVersion": "karpenter.sh/v1",
            "metadata": {"name": name, "uid": f"nc-{name}", "creationTimestamp": clusterfactory.T0,
                         "labels": {"karpenter.sh/nodepool": "default"}},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}},
            "status": {"nodeName": node, "conditions": [{"type": "Drifted", "status": "True",
                                                         "lastTransitionTime": clusterfactory.T0}]}}


def test_optional_kinds_are_read_and_scrubbed(tmp_path: Path, snap: Snap) -> None:
    objects = list(clusterfactory.cluster()) + [_pdb("team-0", "app-0"), _deployment("team-0", "app-0"),
                                                _nodeclaim("default-abc", "ip-10-0-0-1.ec2.internal")]
    with ApiDouble(objects, crds=True) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        out = tmp_path / "s.json"
        result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    assert "1 PodDisruptionBudget" in result.stdout and "1 NodeClaim" in result.stdout
    text = out.read_text()
    for secret in ("hunter2", "s3cr3t", "DB_PASSWORD", "last-applied-configuration"):
        assert secret not in text, secret
    doc = _read(out)
    assert doc["metadata"]["complete"] is True and doc["metadata"].get("notServed", {}) == {}
    state = load(out)
    assert state.complete and state.has("PodDisruptionBudget") and state.has("NodeClaim")
    dep = state.of("Deployment")[0]
    assert dep.spec is not None and dep.spec.replicas == 2
    pdb = state.of("PodDisruptionBudget")[0]
    assert pdb.status is not None and pdb.status.disruptions_allowed == 1


def test_crds_not_installed_are_neither_missing_nor_incomplete(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                               snap: Snap) -> None:
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0 and result.stderr == ""
    meta = _read(out)["metadata"]
    assert meta["missing"] == [] and "NodePool" not in meta["kinds"]
    assert "not installed" in meta["notServed"]["NodeClaim"]
    state = load(out)
    assert state.complete and not state.has("NodePool") and state.has("Deployment")


def test_forbidden_optional_kind_is_a_note_not_exit_3(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                      snap: Snap) -> None:
    api.deny("poddisruptionbudgets")
    out = tmp_path / "s.json"
    result = snap("-o", out, "--kubeconfig", kubeconfig)
    assert result.exit_code == 0, result.output
    assert result.stderr.count("\n") == 1 and "PodDisruptionBudget" in result.stderr
    assert "list poddisruptionbudgets.policy, cluster-wide" in result.stderr
    meta = _read(out)["metadata"]
    assert meta["complete"] is True and [m["kind"] for m in meta["missing"]] == ["PodDisruptionBudget"]
    state = load(out)
    assert state.complete and not state.has("PodDisruptionBudget")
