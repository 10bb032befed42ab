"""Nodes: kubelet version, node group membership (EKS managed, Karpenter, Fargate), zone, and when a Node last
changed."""
from __future__ import annotations

from datetime import datetime

from auditor.facts.pods import condition
from auditor.state.clusterstate import parse_time
from auditor.state.labels import LABEL_COMPUTE_TYPE, LABEL_NODEGROUP, LABEL_NODEPOOL, LABEL_ZONE
from auditor.state.objects import KubeObject


def node_changed_at(node: KubeObject | None) -> datetime | None:
    """A Node's creation or last Ready transition: when endpoints' topology on it last changed."""
    if node is None:
        return None
    times = [parse_time(node.metadata.creation_timestamp)]
    c = condition(node, "Ready")
    if c is not None:
        times.append(parse_time(c.last_transition_time))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def is_fargate(node: KubeObject) -> bool:
    return node.metadata.name.startswith("fargate-") or node.labels.get(LABEL_COMPUTE_TYPE) == "fargate"


def node_group(node: KubeObject) -> tuple[str, str]:
    """(kind, name): `eks-nodegroup`, `karpenter-nodepool`, `fargate` or `unmanaged` (the vocabulary of the
    rotation summary and the plan)."""
    labels = node.labels
    if is_fargate(node):
        return "fargate", "fargate"
    if LABEL_NODEGROUP in labels:
        return "eks-nodegroup", labels[LABEL_NODEGROUP]
    if LABEL_NODEPOOL in labels:
        return "karpenter-nodepool", labels[LABEL_NODEPOOL]
    return "unmanaged", "unmanaged"


def kubelet_version(node: KubeObject) -> str:
    """The kubelet's version as the Node reports it (`status.nodeInfo.kubeletVersion`), "" when absent."""
    st = node.status
    return st.node_info.kubelet_version if st is not None and st.node_info is not None else ""


def eks_nodegroup(node: KubeObject) -> str | None:
    """The EKS managed node group the Node belongs to (its `eks.amazonaws.com/nodegroup` label), or None."""
    return node.labels.get(LABEL_NODEGROUP) or None


def zone(node: KubeObject) -> str | None:
    return node.labels.get(LABEL_ZONE) or None
