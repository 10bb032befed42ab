"""Workloads and disruption budgets as objects: a Pod's controller, whether it follows its node, how many replicas
a workload wants, and what a PodDisruptionBudget lets a drain take from a given count. Pure.

The ownership chain is the controllers' own: Pod -controller-> ReplicaSet -controller-> Deployment, or
Pod -> StatefulSet / DaemonSet. Without the ReplicaSet objects (an optional kind) the Deployment is inferred
from the `pod-template-hash` label, as the ReplicaSet's name is `<deployment>-<hash>`.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from auditor.state.objects import KubeObject, OwnerReference, label_selector

ANN_MIRROR = "kubernetes.io/config.mirror"


def controller_of(obj: KubeObject) -> OwnerReference | None:
    for ref in obj.metadata.owner_references or ():
        if ref.controller:
            return ref
    return None


def follows_node(pod: KubeObject) -> bool:
    """DaemonSet and static Pods: a drain does not evict them (`kubectl drain --ignore-daemonsets`, the EKS
    node group update, Karpenter), and each new node runs its own before the old node goes."""
    ann = pod.metadata.annotations
    if ann and ANN_MIRROR in ann:
        return True
    for ref in pod.metadata.owner_references or ():
        if ref.controller:
            return ref.kind in ("DaemonSet", "Node")
    return False


def replicas_of(obj: KubeObject | None) -> int | None:
    if obj is None or obj.spec is None:
        return None
    return 1 if obj.spec.replicas is None else obj.spec.replicas  # the API defaults replicas to 1


def match_labels_of(obj: KubeObject | None, fallback: dict[str, str]) -> dict[str, str]:
    sel = label_selector(obj) if obj is not None else None
    if sel is not None and sel.match_labels and not sel.match_expressions:
        return dict(sel.match_labels)
    return fallback


POD_ONLY_LABELS = frozenset({"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
                              "apps.kubernetes.io/pod-index", "pod-template-generation"})


# -- PodDisruptionBudgets ------------------------------------------------------------------------------


def scaled(value: int | str | None, total: int) -> int | None:
    """An IntOrString against `total`, percentages rounded up (the disruption controller's
    GetScaledValueFromIntOrPercent(..., roundUp=true) for both minAvailable and maxUnavailable)."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.endswith("%"):
        try:
            pct = int(text[:-1])
        except ValueError:
            return None
        return math.ceil(pct * total / 100)
    try:
        return int(text)
    except ValueError:
        return None


class Budget(NamedTuple):
    """What a PDB lets a drain take from `expected` Pods."""

    expected: int          # status.expectedPods, else the count given
    desired_healthy: int   # Pods that must stay healthy
    allowed_now: int | None  # status.disruptionsAllowed (None: no status)
    current_healthy: int | None
    spec: str              # "maxUnavailable 0", "minAvailable 100%"

    @property
    def allows_losing_all(self) -> bool:
        return self.desired_healthy <= 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spec": self.spec, "expectedPods": self.expected,
                               "desiredHealthy": self.desired_healthy}
        if self.allowed_now is not None:
            out["disruptionsAllowed"] = self.allowed_now
        if self.current_healthy is not None:
            out["currentHealthy"] = self.current_healthy
        return out


def budget(pdb: KubeObject, count: int) -> Budget:
    st, spec = pdb.status, pdb.spec
    expected = st.expected_pods if st is not None and st.expected_pods is not None else count
    max_u = spec.max_unavailable if spec is not None else None
    min_a = spec.min_available if spec is not None else None
    if max_u is not None:
        m = scaled(max_u, expected)
        desired = max(0, expected - (m if m is not None else 0))
        text = f"maxUnavailable {max_u}"
    elif min_a is not None:
        m = scaled(min_a, expected)
        desired = m if m is not None else 0
        text = f"minAvailable {min_a}"
    else:  # policy/v1 does not default either (v1beta1 defaulted minAvailable to 1): nothing must stay healthy
        desired = 0
        text = "neither minAvailable nor maxUnavailable"
    return Budget(expected, desired, st.disruptions_allowed if st is not None else None,
                  st.current_healthy if st is not None else None, text)


