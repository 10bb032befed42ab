"""`FollowedIndex`: the followed cluster as the rules' index, scoped to some Services, built from the follower's own
indexes (no copy of the state, no index rebuilt per evaluation).

The convergence rules iterate an index's Services, Endpoints and slices and look everything else up by key
(Pods, Nodes, Namespaces, Pods by label or IP). This view gives them the Services being judged (with their
Endpoints and labelled slices) to iterate, and the follower's live dictionaries and indexes to look up in, so
judging a Service costs what its own objects cost, not a pass over the cluster. A lookup sees the whole followed
cluster, as the final whole-state comparison does.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from auditor.analysis.index import ClusterIndex, Key
from auditor.facts import versions
from auditor.state.clusterstate import ClusterState
from auditor.state.objects import KubeObject

if TYPE_CHECKING:
    from auditor.engine.follow import Follower


class FollowedIndex(ClusterIndex):
    """A read-only `ClusterIndex` over the follower's objects for the Services `keys`, as of `now`."""

    def __init__(self, follower: Follower, keys: Iterable[Key], now: float, present: Iterable[str]) -> None:
        taken = datetime.fromtimestamp(now, timezone.utc)
        # No objects of its own: what is iterated is below; the state carries the time and the kinds read.
        self.state = ClusterState(objects={}, taken_at=taken, inputs=[], present=set(present))
        self.taken_at = taken
        self.server_version = None
        self.eks = None
        self.eks_data = None
        self.control_plane = versions.control_plane(None, None)
        self.eks_version = None
        objects = follower.objects
        services, endpoints = objects["Service"], objects["Endpoints"]
        self.services = {k: services[k] for k in sorted(keys) if k in services}
        self.endpoints = {k: endpoints[k] for k in self.services if k in endpoints}
        labelled = follower.slices_of
        self.slices_by_service = {k: list(labelled[k].values()) for k in self.services if k in labelled}
        self.slices = [s for group in self.slices_by_service.values() for s in group]
        self.pods = objects["Pod"]
        self.nodes = follower.nodes
        self.namespaces = follower.namespaces
        self._follower = follower
        self._selected = {}
        self._has_nodes = self.has_nodes = "Node" in self.state.present
        self.cache = {}

    def of(self, kind: str) -> list[KubeObject]:
        """The view's objects of a kind, as it iterates and looks them up: the Services judged, their Endpoints
        and slices; every followed Pod, Node and Namespace; none of a kind verify does not follow."""
        scoped: dict[str, Iterable[KubeObject]] = {
            "Service": self.services.values(), "Endpoints": self.endpoints.values(), "EndpointSlice": self.slices,
            "Pod": self.pods.values(), "Node": self.nodes.values(), "Namespace": self.namespaces.values()}
        return list(scoped.get(kind, ()))

    def pods_with_labels(self, ns: str, labels: dict[str, str]) -> list[KubeObject]:
        pods = self.pods
        if not labels:
            return [p for (pns, _), p in pods.items() if pns == ns]
        return [pods[k] for k in self._follower.selected(ns, labels)]

    def pods_holding(self, addresses: set[str]) -> dict[str, list[KubeObject]]:
        pods, holders = self.pods, self._follower.pods_at
        return {ip: [pods[k] for k in sorted(keys)] for ip in addresses if (keys := holders.get(ip))}
