"""Workloads and disruption budgets of an index: who owns each Pod, which PodDisruptionBudgets select it and how
much they let a drain take now. Memoised per index; the pure parts are `auditor.facts.workloads`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from auditor.facts.pods import pod_terminal
from auditor.facts.workloads import POD_ONLY_LABELS, Budget, budget, controller_of, match_labels_of, replicas_of
from auditor.state.objects import KubeObject, label_selector, selector_matches

if TYPE_CHECKING:
    from auditor.analysis.index import ClusterIndex


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
    labels = {k: v for k, v in pod.labels.items() if k not in POD_ONLY_LABELS}  # the workload's, for fixes
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
            hit = Workload("Deployment", ns, deploy_name, replicas_of(dep), match_labels_of(dep, labels))
        else:
            hit = Workload("ReplicaSet", ns, ref.name, replicas_of(rs), match_labels_of(rs, labels))
    elif ref.kind in ("StatefulSet", "DaemonSet", "Deployment"):
        obj = _objects(index, ref.kind).get((ns, ref.name))
        hit = Workload(ref.kind, ns, ref.name, None if ref.kind == "DaemonSet" else replicas_of(obj),
                       match_labels_of(obj, labels))
    else:
        hit = Workload(ref.kind, ns, ref.name, None, labels)
    memo[key] = hit
    return hit


def pdbs_selecting(index: ClusterIndex, pod: KubeObject) -> list[KubeObject]:
    """PodDisruptionBudgets in the Pod's namespace whose selector matches it (policy/v1: an empty selector
    matches every Pod of the namespace, an absent one none). One pass over the PDBs' Pods per index."""
    return pdbs_by_pod(index).get((pod.metadata.namespace, pod.metadata.name), [])


def pdbs_by_pod(index: ClusterIndex) -> dict[tuple[str, str], list[KubeObject]]:
    """`pdbs_selecting` of every Pod some PDB selects, by (namespace, name); computed once per index."""
    by_pod: dict[tuple[str, str], list[KubeObject]] | None = index.cache.get("pdbs-by-pod")
    if by_pod is None:
        by_pod = index.cache["pdbs-by-pod"] = {}
        for pdb in sorted(index.of("PodDisruptionBudget"), key=lambda p: (p.metadata.namespace, p.metadata.name)):
            for p in pods_selected(index, pdb):
                by_pod.setdefault((p.metadata.namespace, p.metadata.name), []).append(pdb)
    return by_pod


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
