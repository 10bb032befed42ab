"""eks_view: the data a report's EKS section shows, built from the typed EKS data and the index alone."""
from __future__ import annotations

from pathlib import Path

import yaml
from builders import state_from

from auditor.analysis.eksview import eks_view
from auditor.analysis.index import ClusterIndex

CASES = Path(__file__).resolve().parents[1] / "rules" / "cases"


def _state(rule: str, case: str) -> ClusterIndex:
    doc = yaml.safe_load((CASES / f"{rule}.yaml").read_text())
    [found] = [c for c in doc["cases"] if c["name"] == case]
    return ClusterIndex(state_from(found["state"]))


def test_summary_relates_nodes_to_node_groups() -> None:
    index = _state("nodegroup-version-skew", "a node left behind by its node group's update counts")
    summary = eks_view(index, None)
    assert summary is not None
    facts = (summary["name"], summary["version"], summary["platform"], summary["target"])
    assert facts == ("shop-prod", "1.30", "eks.8", "1.31")
    [ng] = summary["nodegroups"]
    assert ng["name"] == "ng-main" and ng["version"] == "1.30" and ng["release"] == "1.30.6-20241121"
    assert ng["nodes"] == 2 and len(ng["nodeNames"]) == 2
    assert ng["kubeletVersions"] == ["v1.26.15-eks-1552ad0", "v1.30.6-eks-94953ac"]


def test_summary_addons_against_the_target() -> None:
    index = _state("addon-version-incompatible", "kube-proxy too old for the target, default named")
    summary = eks_view(index, None)
    assert summary is not None
    assert {a["name"]: (a["compatible"], a["default"]) for a in summary["addons"]} == {
        "kube-proxy": (False, "v1.31.2-eksbuild.3"), "coredns": (True, "v1.11.3-eksbuild.2")}
    other = eks_view(index, "1.32")  # no data for 1.32: unknown, not "compatible"
    assert other is not None and {a["compatible"] for a in other["addons"]} == {None}


def test_summary_insights_and_no_eks() -> None:
    index = _state("upgrade-insight-failing", "ERROR insight for the next version is an error")
    summary = eks_view(index, None)
    assert summary is not None
    [ins] = summary["insights"]
    assert ins["status"] == "ERROR" and ins["recommendation"].startswith("Update manifests")
    assert eks_view(_state("upgrade-insight-failing", "no EKS data"), None) is None
