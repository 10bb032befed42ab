"""auditor.facts.nodes: when a Node last changed, its group (EKS, Karpenter, Fargate), kubelet version and zone."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import msgspec
import pytest

from auditor.facts import nodes
from auditor.state.objects import KubeObject

NAME = "ip-10-0-1-17.eu-west-1.compute.internal"


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def node(*, name: str = NAME, labels: dict[str, str] | None = None, status: dict[str, Any] | None = None,
         created: str | None = "2026-11-20T08:00:00Z") -> KubeObject:
    meta: dict[str, Any] = {"name": name, "uid": "8c1f2f4e-0000-4000-8000-00000000000a", "resourceVersion": "9120",
                            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                       **(labels or {})}}
    if created is not None:
        meta["creationTimestamp"] = created
    raw: dict[str, Any] = {"kind": "Node", "apiVersion": "v1", "metadata": meta,
                           "spec": {"providerID": "aws:///eu-west-1a/i-0abc12345def67890"}}
    if status is not None:
        raw["status"] = status
    return decode(raw)


def ready(at: str | None) -> dict[str, Any]:
    c: dict[str, Any] = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                         "lastHeartbeatTime": "2026-11-20T09:59:00Z"}
    if at is not None:
        c["lastTransitionTime"] = at
    return c


MEMORY = {"type": "MemoryPressure", "status": "False", "lastTransitionTime": "2026-11-20T09:30:00Z"}


@pytest.mark.parametrize(("created", "conditions", "want"), [
    pytest.param("2026-11-20T08:00:00Z", [ready("2026-11-20T08:00:40Z")], "2026-11-20T08:00:40Z",
                 id="became Ready after creation"),
    pytest.param("2026-11-20T08:00:00Z", [MEMORY, ready("2026-11-20T09:45:00Z")], "2026-11-20T09:45:00Z",
                 id="a later NotReady->Ready flap"),
    pytest.param("2026-11-20T08:00:00Z", [MEMORY], "2026-11-20T08:00:00Z",
                 id="only Ready counts (not MemoryPressure)"),
    pytest.param("2026-11-20T09:00:00Z", [ready("2026-11-20T08:59:00Z")], "2026-11-20T09:00:00Z",
                 id="creation later than the transition"),
    pytest.param("2026-11-20T08:00:00Z", [ready(None)], "2026-11-20T08:00:00Z", id="no transition time"),
    pytest.param(None, [ready(None)], None, id="no times at all"),
    pytest.param("2026-11-20T08:00:00Z", None, "2026-11-20T08:00:00Z", id="no status"),
])
def test_node_changed_at(created: str | None, conditions: list[dict[str, Any]] | None, want: str | None) -> None:
    status = {"conditions": conditions} if conditions is not None else None
    assert nodes.node_changed_at(node(created=created, status=status)) == (t(want) if want else None)


def test_node_changed_at_of_no_node() -> None:
    assert nodes.node_changed_at(None) is None


FARGATE_NAME = "fargate-ip-10-0-3-9.eu-west-1.compute.internal"


@pytest.mark.parametrize(("name", "labels", "group", "fargate"), [
    pytest.param(NAME, {"eks.amazonaws.com/nodegroup": "ng-blue", "eks.amazonaws.com/capacityType": "ON_DEMAND"},
                 ("eks-nodegroup", "ng-blue"), False, id="EKS managed node group"),
    pytest.param(NAME, {"karpenter.sh/nodepool": "default", "karpenter.sh/registered": "true"},
                 ("karpenter-nodepool", "default"), False, id="Karpenter node pool"),
    pytest.param(NAME, {"eks.amazonaws.com/nodegroup": "ng-blue", "karpenter.sh/nodepool": "default"},
                 ("eks-nodegroup", "ng-blue"), False, id="both labels: the node group first"),
    pytest.param(FARGATE_NAME, {"eks.amazonaws.com/compute-type": "fargate"}, ("fargate", "fargate"), True,
                 id="Fargate, labelled and named"),
    pytest.param(FARGATE_NAME, {}, ("fargate", "fargate"), True, id="Fargate by name only"),
    pytest.param("ip-10-0-3-9.eu-west-1.compute.internal", {"eks.amazonaws.com/compute-type": "fargate",
                                                            "eks.amazonaws.com/nodegroup": "ng-blue"},
                 ("fargate", "fargate"), True, id="Fargate by label, before any node group"),
    pytest.param(NAME, {"eks.amazonaws.com/compute-type": "ec2"}, ("unmanaged", "unmanaged"), False,
                 id="another compute type"),
    pytest.param("my-fargate-node", {}, ("unmanaged", "unmanaged"), False, id="'fargate' inside the name"),
    pytest.param(NAME, {}, ("unmanaged", "unmanaged"), False, id="self-managed"),
])
def test_node_group_and_fargate(name: str, labels: dict[str, str], group: tuple[str, str], fargate: bool) -> None:
    n = node(name=name, labels=labels)
    assert nodes.node_group(n) == group
    assert nodes.is_fargate(n) is fargate


@pytest.mark.parametrize(("status", "want"), [
    ({"nodeInfo": {"kubeletVersion": "v1.30.4-eks-a737599", "kubeProxyVersion": "v1.30.4-eks-a737599",
                   "osImage": "Amazon Linux 2023"}}, "v1.30.4-eks-a737599"),
    ({"nodeInfo": {"osImage": "Bottlerocket OS 1.20.0"}}, ""),
    ({"conditions": [ready("2026-11-20T08:00:40Z")]}, ""),
    (None, ""),
], ids=["reported", "nodeInfo without a kubelet version", "no nodeInfo", "no status"])
def test_kubelet_version(status: dict[str, Any] | None, want: str) -> None:
    assert nodes.kubelet_version(node(status=status)) == want


@pytest.mark.parametrize(("labels", "nodegroup", "zone"), [
    ({"eks.amazonaws.com/nodegroup": "ng-blue", "topology.kubernetes.io/zone": "eu-west-1a"}, "ng-blue",
     "eu-west-1a"),
    ({"eks.amazonaws.com/nodegroup": "", "topology.kubernetes.io/zone": ""}, None, None),
    ({"failure-domain.beta.kubernetes.io/zone": "eu-west-1b"}, None, None),
    ({}, None, None),
], ids=["labelled", "empty labels read as absent", "only the retired zone label", "unlabelled"])
def test_eks_nodegroup_and_zone(labels: dict[str, str], nodegroup: str | None, zone: str | None) -> None:
    n = node(labels=labels)
    assert nodes.eks_nodegroup(n) == nodegroup
    assert nodes.zone(n) == zone
