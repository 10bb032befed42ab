"""Workloads and disruption budgets around Pods: who owns a Pod, how many replicas it wants, which
PodDisruptionBudgets select it and how much they let a drain take. Pure; memoised per index.

The ownership chain is the controllers' own: Pod -controller-> ReplicaSet -controller-> Deployment, or
Pod -> StatefulSet / DaemonSet. Without the ReplicaSet objects (an optional kind) the Deployment is inferred
from the `pod-template-hash` label, as the ReplicaSet's name is `<deployment>-<hash>`.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

from auditor.objects import KubeObject, OwnerReference, label_selector, selector_matches
from auditor.reconcile import pod_terminal

if TYPE_CHECKING:
    from auditor.index import ClusterIndex

ANN_MIRROR = "kubernetes.io/config.mirror"


def controller_of(obj: KubeObject) -> OwnerReference | None:
    for ref in obj.metadata.owner_references or ():
        if ref.controller:
            return ref
    return None


def is_daemonset_pod(pod: KubeObject) -> bool:
    ref = controller_of(pod)
    return ref is not None and ref.kind == "DaemonSet"


def is_static_pod(pod: KubeObject) -> bool:
    """A mirror Pod of a kubelet static Pod: the API cannot evict it; it goes with its node."""
    ref = controller_of(pod)
    return ANN_MIRROR in pod.annotations or (ref is not None and ref.kind == "Node")


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


class Workload(NamedTuple):
    kind: str                     # Deployment | StatefulSet | ReplicaSet | DaemonSet | Job | ... | Pod
    namespace: str
    name: str
    replicas: int | None          # spec.replicas when the object was read (None: unknown)
    match_labels: dict[str, str]  # its selector's matchLabels (for fixes); {} when unknown

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    @property
    def scalable(self) -> bool:
        return self.kind in ("Deployment", "StatefulSet", "ReplicaSet")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.replicas is not None:
            out["replicas"] = self.replicas
        return out


def _objects(index: ClusterIndex, kind: str) -> dict[tuple[str, str], KubeObject]:
    memo: dict[str, dict[tuple[str, str], KubeObject]] = index.cache.setdefault("workload-objects", {})
    hit = memo.get(kind)
    if hit is None:
        hit = memo[kind] = {(o.namespace, o.name): o for o in index.of(kind)}
    return hit


def _replicas(obj: KubeObject | None) -> int | None:
    if obj is None or obj.spec is None:
        return None
    return 1 if obj.spec.replicas is None else obj.spec.replicas  # the API defaults replicas to 1


def _match_labels(obj: KubeObject | None, fallback: dict[str, str]) -> dict[str, str]:
    sel = label_selector(obj) if obj is not None else None
    if sel is not None and sel.match_labels and not sel.match_expressions:
        return dict(sel.match_labels)
    return fallback


_POD_ONLY_LABELS = frozenset({"pod-template-hash", "controller-revision-hash", "statefulset.kubernetes.io/pod-name",
                              "apps.kubernetes.io/pod-index", "pod-template-generation"})


def workload_of(index: ClusterIndex, pod: KubeObject) -> Workload:
    """The workload a Pod belongs to (its top controller); the Pod itself when it has no controller."""
    ns = pod.namespace
    ref = controller_of(pod)
    if ref is None:
        return Workload("Pod", ns, pod.name, None, {})
    memo: dict[tuple[str, str, str], Workload] = index.cache.setdefault("workload-of", {})
    key = (ns, ref.kind, ref.name)
    hit = memo.get(key)
    if hit is not None:
        return hit
    labels = {k: v for k, v in pod.labels.items() if k not in _POD_ONLY_LABELS}  # the workload's, for fixes
    if ref.kind == "ReplicaSet":
        rs = _objects(index, "ReplicaSet").get((ns, ref.name))
        deploy_name = None
        if rs is not None:
            top = controller_of(rs)
            if top is not None and top.kind == "Deployment":
                deploy_name = top.name
        elif not index.has("ReplicaSet"):
            h = pod.labels.get("pod-template-hash")
            if h and ref.name.endswith("-" + h):
                deploy_name = ref.name[:-len(h) - 1]
        if deploy_name is not None:
            dep = _objects(index, "Deployment").get((ns, deploy_name))
            hit = Workload("Deployment", ns, deploy_name, _replicas(dep), _match_labels(dep, labels))
        else:
            hit = Workload("ReplicaSet", ns, ref.name, _replicas(rs), _match_labels(rs, labels))
    elif ref.kind in ("StatefulSet", "DaemonSet", "Deployment"):
        obj = _objects(index, ref.kind).get((ns, ref.name))
        hit = Workload(ref.kind, ns, ref.name, None if ref.kind == "DaemonSet" else _replicas(obj),
                       _match_labels(obj, labels))
    else:
        hit = Workload(ref.kind, ns, ref.name, None, labels)
    memo[key] = hit
    return hit


# -- PodDisruptionBudgets ------------------------------------------------------------------------------

def pdbs_selecting(index: ClusterIndex, pod: KubeObject) -> list[KubeObject]:
    """PodDisruptionBudgets in the Pod's namespace whose selector matches it (policy/v1: an empty selector
    matches every Pod of the namespace, an absent one none). One pass over the PDBs' Pods per index."""
    by_pod: dict[tuple[str, str], list[KubeObject]] | None = index.cache.get("pdbs-by-pod")
    if by_pod is None:
        by_pod = index.cache["pdbs-by-pod"] = {}
        for pdb in sorted(index.of("PodDisruptionBudget"), key=lambda p: (p.namespace, p.name)):
            for p in pods_selected(index, pdb):
                by_pod.setdefault((p.namespace, p.name), []).append(pdb)
    return by_pod.get((pod.namespace, pod.name), [])


def pods_selected(index: ClusterIndex, pdb: KubeObject) -> list[KubeObject]:
    """The Pods of the PDB's namespace its selector matches (through the label index: no scan of every Pod)."""
    memo: dict[tuple[str, str], list[KubeObject]] = index.cache.setdefault("pdb-pods", {})
    key = (pdb.namespace, pdb.name)
    hit = memo.get(key)
    if hit is not None:
        return hit
    sel = label_selector(pdb)
    if sel is None:
        hit = []
    else:
        hit = index.pods_with_labels(pdb.namespace, sel.match_labels or {})
        if sel.match_expressions:
            hit = [p for p in hit if selector_matches(sel, p.labels)]
    memo[key] = hit
    return hit


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


def budget_of(index: ClusterIndex, pdb: KubeObject) -> Budget:
    """`budget` against the PDB's non-terminal Pods (counted only without status.expectedPods); memoised."""
    memo: dict[tuple[str, str], Budget] = index.cache.setdefault("pdb-budget", {})
    key = (pdb.namespace, pdb.name)
    hit = memo.get(key)
    if hit is None:
        st = pdb.status
        count = 0
        if st is None or st.expected_pods is None:
            count = sum(1 for p in pods_selected(index, pdb) if not pod_terminal(p))
        hit = memo[key] = budget(pdb, count)
    return hit
