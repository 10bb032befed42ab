"""What the controllers would write for a Service and which slices describe it, from the index (memoised)."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from auditor.facts.pods import endpoint_conditions, pod_ips, pod_node, pod_terminal
from auditor.facts.services import publishes_not_ready, service_families
from auditor.facts.slices import ReadyEndpoint, owned_by, ready_endpoints_in, routed_among, slice_manager
from auditor.state.labels import CONTROLLER, MIRRORING_CONTROLLER
from auditor.state.objects import KubeObject, ip_family

if TYPE_CHECKING:
    from auditor.analysis.index import ClusterIndex


def controller_slices(index: ClusterIndex, svc: KubeObject) -> list[KubeObject]:
    """Slices the EndpointSlice controller manages for this live Service: its managed-by, owned by the
    Service's uid (the controller deletes the others), not being deleted (the controller's reconciler,
    pkg/controller/endpointslice)."""
    uid = svc.metadata.uid
    return [s for s in index.slices_by_service.get((svc.metadata.namespace, svc.metadata.name), ())
            if slice_manager(s) == CONTROLLER and s.metadata.deletion_timestamp is None
            and (not uid or owned_by(s, "Service", uid))]


def mirrored_slices(index: ClusterIndex, ep: KubeObject) -> list[KubeObject]:
    uid = ep.metadata.uid
    return [s for s in index.slices_by_service.get((ep.metadata.namespace, ep.metadata.name), ())
            if slice_manager(s) == MIRRORING_CONTROLLER and s.metadata.deletion_timestamp is None
            and (not uid or owned_by(s, "Endpoints", uid) or not s.metadata.owner_references)]


def routed_slices(index: ClusterIndex, svc: KubeObject) -> list[KubeObject]:
    """The slices kube-proxy merges for a Service that should describe it: its controller slices, mirrored
    slices, and for a selectorless Service its own (hand-made) slices."""
    return routed_among(svc, index.slices_by_service.get((svc.metadata.namespace, svc.metadata.name), ()))


class DesiredEndpoint(NamedTuple):
    """One endpoint the EndpointSlice controller would write for a Service (`podToEndpoint` in
    staging/src/k8s.io/endpointslice/utils.go)."""

    pod: KubeObject
    address: str
    family: str
    ready: bool
    serving: bool
    terminating: bool


def _desired(index: ClusterIndex, svc: KubeObject) -> list[DesiredEndpoint]:
    """Pods excluded: terminal, without an IP of the family, or (unless publishNotReadyAddresses) on a Node
    that does not exist (the controller skips them)."""
    pnra = publishes_not_ready(svc)
    families = service_families(svc)
    out = []
    for pod in index.selected_pods(svc):
        if pod_terminal(pod):
            continue
        ips = pod_ips(pod)
        if not ips:
            continue
        if not pnra and index.node_exists(pod_node(pod)) is False:
            continue
        cond = endpoint_conditions(pod, pnra)
        for fam in families:
            addr = next((ip for ip in ips if ip_family(ip) == fam), None)
            if addr is not None:
                out.append(DesiredEndpoint(pod, addr, fam, cond.ready, cond.serving, cond.terminating))
    return out


def desired_endpoints(index: ClusterIndex, svc: KubeObject) -> list[DesiredEndpoint]:
    """What the EndpointSlice controller would write for this Service (memoised per index)."""
    memo: dict[tuple[str, str], list[DesiredEndpoint]] = index.cache.setdefault("desired", {})
    key = (svc.metadata.namespace, svc.metadata.name)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _desired(index, svc)
    return hit


def service_ready_endpoints(index: ClusterIndex, ns: str, name: str) -> dict[str, ReadyEndpoint]:
    """Ready endpoints kube-proxy gets for a Service from the slices that should describe it (`routed_slices`),
    de-duplicated by address (duplicates across slices are normal). Memoised per index."""
    memo: dict[tuple[str, str], dict[str, ReadyEndpoint]] = index.cache.setdefault("ready-endpoints", {})
    hit = memo.get((ns, name))
    if hit is not None:
        return hit
    svc = index.services.get((ns, name))
    out = ready_endpoints_in(routed_slices(index, svc)) if svc is not None else {}
    memo[(ns, name)] = out
    return out
