"""auditor.facts.eks: a node group's minor and add-on compatibility for a target, read with the version parser."""
from __future__ import annotations

from typing import Any

import pytest

from auditor.facts import eks
from auditor.facts.versions import Minor
from auditor.state.eksdata import AddonCompatibility, EksData, NodeGroup, decode

#: EKS DescribeAddonVersions per Kubernetes version, as the collector stores it (since 0.2)
BY_TARGET = {
    "1.31": {"vpc-cni": {"targetVersion": "1.31", "defaultVersion": "v1.19.0-eksbuild.1",
                         "compatibleVersions": ["v1.19.0-eksbuild.1", "v1.18.5-eksbuild.1"]},
             "coredns": {"targetVersion": "", "defaultVersion": "v1.11.3-eksbuild.2",
                         "compatibleVersions": ["v1.11.3-eksbuild.2"]}},
    "v1.30": {"kube-proxy": {"targetVersion": "v1.30", "defaultVersion": "v1.30.6-eksbuild.3",
                             "compatibleVersions": ["v1.30.6-eksbuild.3"]}},
}
#: v1 snapshots: one entry per add-on, for the snapshot's target version
V1 = {"kube-proxy": {"targetVersion": "1.32", "defaultVersion": "v1.32.0-eksbuild.2",
                     "compatibleVersions": ["v1.32.0-eksbuild.2"]},
      "aws-ebs-csi-driver": {"targetVersion": "v1.29", "defaultVersion": None, "compatibleVersions": []}}


def data(**fields: Any) -> EksData:
    return decode({"clusterName": "prod-eu", "region": "eu-west-1",
                   "cluster": {"name": "prod-eu", "version": "1.30", "platformVersion": "eks.12",
                               "status": "ACTIVE"}, **fields})


@pytest.mark.parametrize(("version", "want"), [
    ("1.30", Minor(1, 30)), ("v1.29.8-eks-1", Minor(1, 29)), ("", None), ("unknown", None)])
def test_nodegroup_minor(version: str, want: Minor | None) -> None:
    ng = NodeGroup(nodegroup_name="ng-blue", version=version, release_version="1.30.4-20240514", status="ACTIVE")
    assert eks.nodegroup_minor(ng) == want


@pytest.mark.parametrize(("addon", "target", "want"), [
    pytest.param("vpc-cni", "1.31", AddonCompatibility("1.31", "v1.19.0-eksbuild.1",
                                                       ["v1.19.0-eksbuild.1", "v1.18.5-eksbuild.1"]),
                 id="per target, as stored"),
    pytest.param("vpc-cni", "v1.31", AddonCompatibility("1.31", "v1.19.0-eksbuild.1",
                                                        ["v1.19.0-eksbuild.1", "v1.18.5-eksbuild.1"]),
                 id="the target in another spelling"),
    pytest.param("coredns", "1.31", AddonCompatibility("1.31", "v1.11.3-eksbuild.2", ["v1.11.3-eksbuild.2"]),
                 id="an entry without its target version gets the one asked for"),
    pytest.param("kube-proxy", "1.30", AddonCompatibility("v1.30", "v1.30.6-eksbuild.3", ["v1.30.6-eksbuild.3"]),
                 id="a key spelled v1.30: the entry as stored"),
    pytest.param("kube-proxy", "1.32", AddonCompatibility("1.32", "v1.32.0-eksbuild.2", ["v1.32.0-eksbuild.2"]),
                 id="not per target: the v1 entry for that target"),
    pytest.param("aws-ebs-csi-driver", "1.29", AddonCompatibility("v1.29", None, []),
                 id="a v1 entry with its target spelled v1.29"),
    pytest.param("aws-ebs-csi-driver", "1.30", None, id="a v1 entry for another target"),
    pytest.param("vpc-cni", "1.32", None, id="a target not collected"),
    pytest.param("metrics-server", "1.31", None, id="an add-on not collected"),
    pytest.param("vpc-cni", None, None, id="no target"),
    pytest.param("vpc-cni", "latest", None, id="a target that is no version"),
])
def test_compatibility(addon: str, target: str | None, want: AddonCompatibility | None) -> None:
    assert eks.compatibility(data(addonVersionsByTarget=BY_TARGET, addonVersions=V1), addon, target) == want


def test_compatibility_prefers_the_per_target_entry() -> None:
    per_target = {"1.32": {"kube-proxy": {"targetVersion": "1.32", "defaultVersion": "new",
                                          "compatibleVersions": ["new"]}}}
    got = eks.compatibility(data(addonVersionsByTarget=per_target, addonVersions=V1), "kube-proxy", "1.32")
    assert got == AddonCompatibility("1.32", "new", ["new"])


@pytest.mark.parametrize(("fields", "want"), [
    pytest.param({"addonVersionsByTarget": BY_TARGET, "addonVersions": V1}, ["1.29", "1.30", "1.31", "1.32"],
                 id="both forms, spellings unified, in version order"),
    pytest.param({"addonVersionsByTarget": {"1.9": {}, "1.10": {}, "junk": {}}}, ["1.9", "1.10"],
                 id="numeric order (1.9 before 1.10), unreadable keys dropped"),
    pytest.param({"addonVersions": {"x": {"targetVersion": ""}}}, [], id="no readable version"),
    pytest.param({}, [], id="nothing collected"),
])
def test_compatibility_targets(fields: dict[str, Any], want: list[str]) -> None:
    assert eks.compatibility_targets(data(**fields)) == want
