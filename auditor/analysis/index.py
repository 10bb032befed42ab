"""ClusterIndex: a pure, read-only index over one cluster state (lookups only; the controllers' model lives in
`auditor.analysis.reconcile`, versions in `auditor.facts.versions`, typed EKS data in `auditor.state.eksdata`)."""
from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from auditor.facts import versions
from auditor.facts.nodes import eks_nodegroup
from auditor.facts.pods import pod_ips
from auditor.model import ObjectRef
from auditor.state.clusterstate import ClusterState
from auditor.state.eksdata import EksData
from auditor.state.labels import LABEL_SERVICE_NAME
from auditor.state.objects import KubeObject, service_selector

Key = tuple[str, str]  # (namespace, name)
_NO_LABELS: dict[str, str] = {}


def ref_of(obj: KubeObject) -> ObjectRef:
    return ObjectRef(obj.kind, obj.metadata.namespace, obj.metadata.name)


class ClusterIndex:
    """Lookups over a ClusterState. Pure: built from the state alone, never changes it."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.taken_at: datetime = state.taken_at
        self.server_version: str | None = state.server_version
        self.eks: dict[str, Any] | None = state.eks
        self.eks_data: EksData | None = state.eks_data
        eks_version = self.eks_data.cluster.version if self.eks_data is not None else None
        #: the control plane's version by the one documented precedence (auditor.facts.versions)
        self.control_plane = versions.control_plane(state.server_version, eks_version)
        self.eks_version = eks_version
        self.nodes: dict[str, KubeObject] = {n.metadata.name: n for n in state.of("Node")}
        self.namespaces: dict[str, KubeObject] = {n.metadata.name: n for n in state.of("Namespace")}
        self.pods: dict[Key, KubeObject] = {(p.metadata.namespace, p.metadata.name): p for p in state.of("Pod")}
        self.services: dict[Key, KubeObject] = {
            (s.metadata.namespace, s.metadata.name): s for s in state.of("Service")}
        self.endpoints: dict[Key, KubeObject] = {
            (e.metadata.namespace, e.metadata.name): e for e in state.of("Endpoints")}
        self.slices: list[KubeObject] = state.of("EndpointSlice")
        self.slices_by_service: dict[Key, list[KubeObject]] = {}
        for s in self.slices:
            svc = s.labels.get(LABEL_SERVICE_NAME)
            if svc is not None:
                self.slices_by_service.setdefault((s.metadata.namespace, svc), []).append(s)
        self._selected: dict[Key, list[KubeObject]] = {}
        self._has_nodes = state.has("Node")
        #: whether Nodes were read at all (without them no Node is known to be gone: `node_exists`)
        self.has_nodes = self._has_nodes
        #: memo for analyses shared by several rules (computed once per index)
        self.cache: dict[str, Any] = {}

    def has(self, kind: str) -> bool:
        return self.state.has(kind)

    def release(self) -> None:
        """Drop the memo: what is in it (a Reconciler) refers back to this index, a cycle that only the cyclic GC
        frees, and batch commands pause it; released, the index (its lookups, its memo) goes as soon as the caller
        lets go of it, and the reports are written in the memory it held. The state itself is kept: freeing a
        100k-Pod state object by object costs half a second, and the reports fit without that memory."""
        self.cache.clear()

    def of(self, kind: str) -> list[KubeObject]:
        """Objects of any registered kind (optional kinds included)."""
        return self.state.of(kind)

    @property
    def taken(self) -> datetime:
        return self.taken_at

    # -- nodes and node groups --------------------------------------------------------------------------
    @cached_property
    def _nodes_by_group(self) -> dict[str, list[KubeObject]]:
        out: dict[str, list[KubeObject]] = {}
        for n in self.nodes.values():
            ng = eks_nodegroup(n)
            if ng:
                out.setdefault(ng, []).append(n)
        for v in out.values():
            v.sort(key=lambda n: n.name)
        return out

    def nodes_of_nodegroup(self, nodegroup: str) -> list[KubeObject]:
        """The Nodes EKS labelled as members of a managed node group (`eks.amazonaws.com/nodegroup`)."""
        return self._nodes_by_group.get(nodegroup, [])

    @property
    def nodegroups(self) -> list[str]:
        """Managed node groups: from EKS data when present, else from the Nodes' labels."""
        if self.eks_data is not None and self.eks_data.nodegroups:
            return [ng.name for ng in self.eks_data.nodegroups]
        return sorted(self._nodes_by_group)

    # -- lookups ---------------------------------------------------------------------------------
    def lookup(self, ref: ObjectRef) -> KubeObject | None:
        key = (ref.namespace, ref.name)
        if ref.kind == "Pod":
            return self.pods.get(key)
        if ref.kind == "Service":
            return self.services.get(key)
        if ref.kind == "Endpoints":
            return self.endpoints.get(key)
        if ref.kind == "Node":
            return self.nodes.get(ref.name)
        if ref.kind == "Namespace":
            return self.namespaces.get(ref.name)
        if ref.kind == "EndpointSlice":
            return self._slices_by_key.get(key)
        return None

    @cached_property
    def _slices_by_key(self) -> dict[Key, KubeObject]:
        return {(s.metadata.namespace, s.metadata.name): s for s in self.slices}

    def pods_holding(self, addresses: set[str]) -> dict[str, list[KubeObject]]:
        """Pods holding any of these IPs, hostNetwork Pods included (their status.podIP is their node's IP, which
        several may share), through an index of every Pod IP built on the first call (verify asks its BEFORE
        index again and again)."""
        out: dict[str, list[KubeObject]] = {}
        if not addresses:
            return out
        by_ip = self._pods_by_ip
        for ip in addresses:
            hit = by_ip.get(ip)
            if hit:
                out[ip] = list(hit)
        return out

    @cached_property
    def _pods_by_ip(self) -> dict[str, list[KubeObject]]:
        out: dict[str, list[KubeObject]] = {}
        for p in self.pods.values():
            for ip in pod_ips(p):
                out.setdefault(ip, []).append(p)
        return out

    def namespace_terminating(self, ns: str) -> bool:
        n = self.namespaces.get(ns)
        if n is None:
            return False
        return bool(n.metadata.deletion_timestamp) or (n.status is not None and n.status.phase == "Terminating")

    def node_exists(self, name: str | None) -> bool | None:
        """True/False when Nodes were read; None when they were not (unknown is never 'gone')."""
        if not name or not self._has_nodes:
            return None
        return name in self.nodes

    # -- selectors -------------------------------------------------------------------------------
    @cached_property
    def _label_index(self) -> dict[tuple[str, str, str], list[KubeObject]]:
        idx: dict[tuple[str, str, str], list[KubeObject]] = {}
        for (ns, _), p in self.pods.items():
            for k, v in (p.metadata.labels or {}).items():
                idx.setdefault((ns, k, v), []).append(p)
        return idx

    def selected_pods(self, svc: KubeObject) -> list[KubeObject]:
        """Pods in the Service's namespace matching its selector (all of them, any phase)."""
        key = (svc.metadata.namespace, svc.metadata.name)
        hit = self._selected.get(key)
        if hit is not None:
            return hit
        sel = service_selector(svc)
        out = self.pods_with_labels(svc.metadata.namespace, sel) if sel else []
        self._selected[key] = out
        return out

    @cached_property
    def _pods_by_namespace(self) -> dict[str, list[KubeObject]]:
        out: dict[str, list[KubeObject]] = {}
        for (ns, _), p in self.pods.items():
            out.setdefault(ns, []).append(p)
        return out

    def pods_with_labels(self, ns: str, labels: dict[str, str]) -> list[KubeObject]:
        """Pods of a namespace carrying all these labels (every Pod of it for {}), through the label index."""
        if not labels:
            return list(self._pods_by_namespace.get(ns, ()))
        lists = [self._label_index.get((ns, k, v), []) for k, v in labels.items()]
        lists.sort(key=len)
        if not lists[0]:
            return []
        if len(lists) == 1:
            return list(lists[0])
        wanted = labels.items()  # each Pod's labels hold all of them: a subset test of the items, in C
        return [p for p in lists[0] if wanted <= (p.metadata.labels or _NO_LABELS).items()]
