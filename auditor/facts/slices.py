"""EndpointSlices: who wrote a slice, which slices kube-proxy programs for a Service, and its ready endpoints."""
from __future__ import annotations

from typing import Iterable, NamedTuple

from auditor.facts.services import has_selector, is_external_name
from auditor.state.labels import CONTROLLER, LABEL_MANAGED_BY, LABEL_SERVICE_NAME, MIRRORING_CONTROLLER
from auditor.state.objects import Endpoint, KubeObject, canonical_ip, ip_family

#: managed-by values of known third-party writers (each project's own controller source); config adds more.
KNOWN_THIRD_PARTY = {
    "endpointslice-mesh-controller.cilium.io": "Cilium ClusterMesh",
    "lighthouse-agent.submariner.io": "Submariner Lighthouse",
    "aws-cloud-map-mcs-controller-for-k8s": "AWS Cloud Map MCS controller",
    "endpointslice-dispatch-controller.karmada.io": "Karmada",
    "prometheus-operator": "prometheus-operator (kubelet endpoints)",
}


#: writers whose slices deliberately carry no kubernetes.io/service-name (Submariner's Lighthouse agent labels its
#: slices for multi-cluster DNS, not for kube-proxy)
MULTICLUSTER_WITHOUT_SERVICE_NAME = {"lighthouse-agent.submariner.io"}


#: writers whose endpoints name remote nodes and synthetic Pods (Cilium ClusterMesh and the multi-cluster controllers
#: mirror other clusters' endpoints): never matched locally
REMOTE_WRITERS = {"endpointslice-mesh-controller.cilium.io", "lighthouse-agent.submariner.io",
                  "aws-cloud-map-mcs-controller-for-k8s", "endpointslice-dispatch-controller.karmada.io"}


def slice_manager(slc: KubeObject) -> str:
    return slc.labels.get(LABEL_MANAGED_BY, "")


def is_apiserver_slice(slc: KubeObject) -> bool:
    """kube-apiserver's own default/kubernetes slice: fixed name, no managed-by, no ownerRef."""
    return (slc.metadata.namespace == "default" and slc.metadata.name == "kubernetes"
            and slc.labels.get(LABEL_SERVICE_NAME) == "kubernetes" and LABEL_MANAGED_BY not in slc.labels)


def owned_by(obj: KubeObject, kind: str, uid: str) -> bool:
    return any(ref.kind == kind and ref.uid == uid for ref in obj.metadata.owner_references or ())


def third_party_writer(slc: KubeObject, extra: Iterable[str] = ()) -> str | None:
    """The name of a known third-party writer of this slice, or None."""
    manager = slice_manager(slc)
    if manager in KNOWN_THIRD_PARTY:
        return KNOWN_THIRD_PARTY[manager]
    return manager if manager and manager in set(extra) else None


def slice_owner(slc: KubeObject, extra_third_party: Iterable[str] = ()) -> str:
    """controller | mirroring | apiserver | third-party | handmade."""
    manager = slice_manager(slc)
    if manager == CONTROLLER:
        return "controller"
    if manager == MIRRORING_CONTROLLER:
        return "mirroring"
    if is_apiserver_slice(slc):
        return "apiserver"
    if third_party_writer(slc, extra_third_party):
        return "third-party"
    return "handmade"


def is_handmade(slc: KubeObject, extra_third_party: Iterable[str] = ()) -> bool:
    return slice_owner(slc, extra_third_party) == "handmade"


def is_remote_writer(slc: KubeObject) -> bool:
    return slice_manager(slc) in REMOTE_WRITERS


def proxied_among(svc: KubeObject, labelled: Iterable[KubeObject]) -> list[KubeObject]:
    """The slices kube-proxy actually programs for a Service: every slice labelled with its name, whoever wrote
    it and whatever owner it names (kube-proxy's slice cache keys on the label alone), none for an ExternalName
    Service (kube-proxy's pkg/proxy/endpointslicecache.go keys on the `kubernetes.io/service-name` label and skips
    ExternalName Services). This is what traffic sees; `routed_slices` is what should describe the Service."""
    if is_external_name(svc):
        return []
    return [s for s in labelled if s.metadata.deletion_timestamp is None]


def routed_among(svc: KubeObject, labelled: Iterable[KubeObject]) -> list[KubeObject]:
    """`routed_slices` from the slices labelled with the Service's name (verify keeps those incrementally)."""
    selector = has_selector(svc)
    out = []
    for s in labelled:
        if s.metadata.deletion_timestamp is not None:
            continue
        manager = slice_manager(s)
        if manager == CONTROLLER:
            if svc.metadata.uid and not owned_by(s, "Service", svc.metadata.uid):
                continue
        elif manager != MIRRORING_CONTROLLER and selector:
            continue
        out.append(s)
    return out


class ReadyEndpoint(NamedTuple):
    address: str
    node: str
    zone: str
    pod_uid: str
    pod: str = ""


def endpoint_ready(ep: Endpoint) -> bool:
    """A slice endpoint is ready unless it says `ready: false`: the API documents an absent `ready` as "unknown,
    interpret as ready" (EndpointConditions in discovery.k8s.io/v1), and kube-proxy routes to it."""
    cond = ep.conditions
    return cond is None or cond.ready is not False


def ready_endpoints_in(slices: Iterable[KubeObject]) -> dict[str, ReadyEndpoint]:
    """The ready endpoints of these (routed) slices, de-duplicated by address: what kube-proxy programs."""
    out: dict[str, ReadyEndpoint] = {}
    for s in slices:
        for ep in s.endpoints or ():
            if not ep.addresses:
                continue
            if not endpoint_ready(ep):
                continue
            addr = canonical_ip(ep.addresses[0])
            tr = ep.target_ref
            out[addr] = ReadyEndpoint(addr, ep.node_name or "", ep.zone or "", tr.uid if tr is not None else "",
                                      tr.name if tr is not None else "")
    return out


def ready_count(eps: dict[str, ReadyEndpoint]) -> int:
    """A Service's ready endpoints as a count of backends: the larger per-family count (a dual-stack Pod has
    one endpoint per family in a slice of each address type)."""
    if not any(":" in addr for addr in eps):
        return len(eps)
    per_family: dict[str, int] = {}
    for addr in eps:
        fam = ip_family(addr)
        per_family[fam] = per_family.get(fam, 0) + 1
    return max(per_family.values())
