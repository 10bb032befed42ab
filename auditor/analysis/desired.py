"""What the controllers would write for a Service and which slices describe it, from the index (memoised)."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from auditor.facts.pods import TERMINAL_PHASES, Conditions, endpoint_conditions, pod_ips
from auditor.facts.services import publishes_not_ready, service_families
from auditor.facts.slices import ReadyEndpoint, owned_by, ready_endpoints_in, routed_among, slice_manager
from auditor.state.labels import CONTROLLER, MIRRORING_CONTROLLER
from auditor.state.objects import KubeObject

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


class Expected(NamedTuple):
    """What a Service's selector and its Pods say the controllers should write, computed once per Service and
    index and shared by every rule that judges its slices or its Endpoints (`expected`)."""

    endpoints: list[DesiredEndpoint]
    #: uids of every Pod the selector matches, any phase
    selected: frozenset[str]
    #: the endpoint conditions of each Pod with a desired endpoint, by the Pod object's id (`endpoint_conditions`
    #: with the Service's publishNotReadyAddresses)
    conditions: dict[int, Conditions]


def _expected(index: ClusterIndex, svc: KubeObject) -> Expected:
    """Pods excluded from the endpoints: terminal, without an IP of the family, or (unless publishNotReadyAddresses)
    on a Node that does not exist (the controller skips them)."""
    pnra = publishes_not_ready(svc)
    families = service_families(svc)
    nodes = index.nodes if index.has_nodes and not pnra else None  # `node_exists(...) is False` below
    out: list[DesiredEndpoint] = []
    conditions: dict[int, Conditions] = {}
    selected = index.selected_pods(svc)
    for pod in selected:
        st = pod.status
        if st is not None and st.phase in TERMINAL_PHASES:
            continue
        ips = pod_ips(pod)
        if not ips:
            continue
        if nodes is not None:
            node = pod.spec.node_name if pod.spec is not None else ""
            if node and node not in nodes:
                continue
        cond = conditions[id(pod)] = endpoint_conditions(pod, pnra)
        for fam in families:
            v6 = fam == "IPv6"
            for ip in ips:
                if (":" in ip) == v6:  # ip_family
                    out.append(DesiredEndpoint(pod, ip, fam, cond.ready, cond.serving, cond.terminating))
                    break
    return Expected(out, frozenset(p.metadata.uid for p in selected), conditions)


def expected(index: ClusterIndex, svc: KubeObject) -> Expected:
    """The Service's `Expected` (memoised per index)."""
    memo: dict[tuple[str, str], Expected] = index.cache.setdefault("expected", {})
    key = (svc.metadata.namespace, svc.metadata.name)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _expected(index, svc)
    return hit


def desired_endpoints(index: ClusterIndex, svc: KubeObject) -> list[DesiredEndpoint]:
    """What the EndpointSlice controller would write for this Service (memoised per index)."""
    return expected(index, svc).endpoints


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
