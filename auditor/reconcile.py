"""The reconcile model: what the EndpointSlice, Endpoints and mirroring controllers would write, and where the
state differs from it. The single home of every endpoint fact the rules use:

- endpoint readiness (`endpoint_conditions`: ready / serving / terminating, publishNotReadyAddresses);
- terminal Pod phases (`pod_terminal`), Pod IPs and families (`pod_ips`, `service_families`);
- port resolution with the protocol, as `FindPort` does it (`find_port`, `serves_any_port`);
- slice ownership (`slice_owner`: controller / mirroring / apiserver / third-party / hand-made;
  `controller_slices`, `mirrored_slices`);
- what the controllers would write per Service and family (`desired_endpoints`), per Endpoints object
  (`desired_endpoints_addresses`);
- whether a discrepancy is in flight (`Reconciler.in_flight`): the grace period applies to the objects in
  the discrepancy only (the endpoint's Pod, its Node, the slice, the Service; K8S-FACTS 8.8), and a state
  whose kinds were read at different moments widens it to the reading window (never "stale" for that).

Rules read `Reconciler` (one per index and grace period, memoised); none re-derives these facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Iterable, NamedTuple

from auditor.objects import (
    ANN_LEADER,
    ANN_OVER_CAPACITY,
    ANN_TRIGGER_TIME,
    CONTROLLER,
    LABEL_ENDPOINTS_MANAGED_BY,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    LABEL_SKIP_MIRROR,
    MIRRORING_CONTROLLER,
    Condition,
    EndpointAddress,
    KubeObject,
    ServicePort,
    canonical_ip,
    ip_family,
)
from auditor.state import parse_time

if TYPE_CHECKING:
    from auditor.index import ClusterIndex

MAX_ENDPOINTS_ADDRESSES = 1000
TERMINAL_PHASES = ("Succeeded", "Failed")

#: managed-by values of known third-party writers (K8S-FACTS 1.2, 8.3, 8.11); config adds more.
KNOWN_THIRD_PARTY = {
    "endpointslice-mesh-controller.cilium.io": "Cilium ClusterMesh",
    "lighthouse-agent.submariner.io": "Submariner Lighthouse",
    "aws-cloud-map-mcs-controller-for-k8s": "AWS Cloud Map MCS controller",
    "endpointslice-dispatch-controller.karmada.io": "Karmada",
    "prometheus-operator": "prometheus-operator (kubelet endpoints)",
}
#: writers whose slices deliberately carry no kubernetes.io/service-name (K8S-FACTS 8.3)
MULTICLUSTER_WITHOUT_SERVICE_NAME = {"lighthouse-agent.submariner.io"}
#: writers whose endpoints name remote nodes and synthetic Pods (K8S-FACTS 8.4): never matched locally
REMOTE_WRITERS = {"endpointslice-mesh-controller.cilium.io", "lighthouse-agent.submariner.io",
                  "aws-cloud-map-mcs-controller-for-k8s", "endpointslice-dispatch-controller.karmada.io"}


# -- addresses ------------------------------------------------------------------------------------------

# -- Pods -------------------------------------------------------------------------------------------------

def pod_ips(pod: KubeObject) -> list[str]:
    st = pod.status
    if st is None:
        return []
    if st.pod_ips:
        return [canonical_ip(p.ip) for p in st.pod_ips if p.ip]
    return [canonical_ip(st.pod_ip)] if st.pod_ip else []


def condition(obj: KubeObject, ctype: str) -> Condition | None:
    st = obj.status
    if st is None or not st.conditions:
        return None
    for c in st.conditions:
        if c.type == ctype:
            return c
    return None


def pod_ready(pod: KubeObject) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.status == "True"


def pod_terminal(pod: KubeObject) -> bool:
    return pod.status is not None and pod.status.phase in TERMINAL_PHASES


def pod_terminating(pod: KubeObject) -> bool:
    return pod.metadata.deletion_timestamp is not None


def host_network(pod: KubeObject) -> bool:
    return bool(pod.spec is not None and pod.spec.host_network)


def pod_node(pod: KubeObject) -> str:
    return pod.spec.node_name if pod.spec is not None else ""


def deletion_started(obj: KubeObject) -> datetime | None:
    """deletionTimestamp is 'now + grace period' at deletion; the change happened grace seconds earlier."""
    t = parse_time(obj.metadata.deletion_timestamp)
    if t is None:
        return None
    return t - timedelta(seconds=obj.metadata.deletion_grace_period_seconds or 0)


def pod_changed_at(pod: KubeObject) -> datetime | None:
    """The latest moment the Pod's endpoint-relevant state changed (creation, readiness, deletion)."""
    times = [parse_time(pod.metadata.creation_timestamp)]
    c = condition(pod, "Ready")
    if c is not None:
        times.append(parse_time(c.last_transition_time))
    times.append(deletion_started(pod))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def write_time(obj: KubeObject) -> datetime | None:
    """Latest known write of a controller object: creation or last-change-trigger-time."""
    times = [parse_time(obj.metadata.creation_timestamp),
             parse_time((obj.metadata.annotations or {}).get(ANN_TRIGGER_TIME))]
    known = [t for t in times if t is not None]
    return max(known) if known else None


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


class Conditions(NamedTuple):
    ready: bool
    serving: bool
    terminating: bool


def endpoint_conditions(pod: KubeObject, publish_not_ready: bool) -> Conditions:
    """podToEndpoint: serving = Ready, terminating = deletionTimestamp set, ready = serving and not terminating,
    or always true with publishNotReadyAddresses (K8S-FACTS 2, 4.5)."""
    serving = pod_ready(pod)
    terminating = pod_terminating(pod)
    return Conditions(publish_not_ready or (serving and not terminating), serving, terminating)


# -- Services -------------------------------------------------------------------------------------------

def has_selector(svc: KubeObject) -> bool:
    """The controllers test Selector == nil; an empty map reads back as none (K8S-FACTS 8.12)."""
    return bool(svc.spec is not None and svc.spec.selector)


def is_external_name(svc: KubeObject) -> bool:
    return svc.spec is not None and svc.spec.type == "ExternalName"


def publishes_not_ready(svc: KubeObject) -> bool:
    return bool(svc.spec is not None and svc.spec.publish_not_ready_addresses)


def controller_manages(svc: KubeObject) -> bool:
    """Services the EndpointSlice and Endpoints controllers write for: a selector, not ExternalName."""
    return has_selector(svc) and not is_external_name(svc)


def service_families(svc: KubeObject) -> list[str]:
    """Address families the EndpointSlice controller writes slices for (K8S-FACTS 2, 'Address families')."""
    spec = svc.spec
    if spec is None:
        return ["IPv4"]
    if spec.ip_families:
        return [f for f in spec.ip_families if f in ("IPv4", "IPv6")] or ["IPv4"]
    cip = spec.cluster_ip
    if cip == "None":
        return ["IPv4", "IPv6"]  # headless without ipFamilies: the controller writes both
    return [ip_family(cip)] if cip else ["IPv4"]


# -- ports (FindPort) -------------------------------------------------------------------------------------

def find_port(pod: KubeObject, svc_port: ServicePort) -> int | None:
    """The container port a Service port resolves to on this Pod, as `FindPort` does: a number (or no
    targetPort: the Service port) always resolves; a name matches a container port (or a restartable init
    container's) with that name *and* the Service port's protocol (TCP when unset) (K8S-FACTS 8.1)."""
    target = svc_port.target_port
    if target is None or target == "" or target == 0:
        return svc_port.port
    if isinstance(target, int):
        return target
    if target.isdigit():
        return int(target)
    proto = svc_port.protocol or "TCP"
    spec = pod.spec
    if spec is None:
        return None
    containers = list(spec.containers or ()) + [c for c in spec.init_containers or () if c.restart_policy == "Always"]
    for c in containers:
        for p in c.ports or ():
            if p.name == target and (p.protocol or "TCP") == proto:
                return p.container_port
    return None


def serves_any_port(svc: KubeObject, pod: KubeObject) -> bool:
    """False when no Service port resolves on the Pod: the Endpoints controller then leaves it out."""
    ports = svc.spec.ports if svc.spec is not None else None
    if not ports:
        return True
    return any(find_port(pod, p) is not None for p in ports)


# -- slice ownership ----------------------------------------------------------------------------------------

def slice_manager(slc: KubeObject) -> str:
    return slc.labels.get(LABEL_MANAGED_BY, "")


def is_apiserver_slice(slc: KubeObject) -> bool:
    """kube-apiserver's own default/kubernetes slice: fixed name, no managed-by, no ownerRef."""
    return (slc.metadata.namespace == "default" and slc.metadata.name == "kubernetes"
            and slc.labels.get(LABEL_SERVICE_NAME) == "kubernetes" and LABEL_MANAGED_BY not in slc.labels)


def owned_by(obj: KubeObject, kind: str, uid: str) -> bool:
    return any(ref.kind == kind and ref.uid == uid for ref in obj.metadata.owner_references or ())


def third_party_writer(slc: KubeObject, extra: Iterable[str] = ()) -> str | None:
    """The name of a known third-party writer of this slice (K8S-FACTS 1.2), or None."""
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


def controller_slices(index: ClusterIndex, svc: KubeObject) -> list[KubeObject]:
    """Slices the EndpointSlice controller manages for this live Service: its managed-by, owned by the
    Service's uid (the controller deletes the others), not being deleted (K8S-FACTS 1.3)."""
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


def proxied_among(svc: KubeObject, labelled: Iterable[KubeObject]) -> list[KubeObject]:
    """The slices kube-proxy actually programs for a Service: every slice labelled with its name, whoever wrote
    it and whatever owner it names (kube-proxy's slice cache keys on the label alone), none for an ExternalName
    Service (K8S-FACTS 8.5). This is what traffic sees; `routed_slices` is what should describe the Service."""
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


# -- v1 Endpoints ---------------------------------------------------------------------------------------

def endpoints_addresses(ep: KubeObject) -> tuple[list[EndpointAddress], list[EndpointAddress]]:
    ready: list[EndpointAddress] = []
    not_ready: list[EndpointAddress] = []
    for sub in ep.subsets or ():
        ready += sub.addresses or []
        not_ready += sub.not_ready_addresses or []
    return ready, not_ready


def endpoints_truncated(ep: KubeObject) -> bool:
    ready, not_ready = endpoints_addresses(ep)
    return ANN_OVER_CAPACITY in ep.annotations or len(ready) + len(not_ready) >= MAX_ENDPOINTS_ADDRESSES


def is_leader_election(ep: KubeObject) -> bool:
    return ANN_LEADER in ep.annotations


def skips_mirror(ep: KubeObject) -> bool:
    return ep.labels.get(LABEL_SKIP_MIRROR) == "true"


def written_by_endpoints_controller(ep: KubeObject) -> bool:
    return ep.labels.get(LABEL_ENDPOINTS_MANAGED_BY) == "endpoint-controller"


# -- the desired state ------------------------------------------------------------------------------------

class DesiredEndpoint(NamedTuple):
    """One endpoint the EndpointSlice controller would write for a Service (K8S-FACTS 2, podToEndpoint)."""

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


class ReadyEndpoint(NamedTuple):
    address: str
    node: str
    zone: str
    pod_uid: str
    pod: str = ""


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


def ready_endpoints_in(slices: Iterable[KubeObject]) -> dict[str, ReadyEndpoint]:
    """The ready endpoints of these (routed) slices, de-duplicated by address: what kube-proxy programs."""
    out: dict[str, ReadyEndpoint] = {}
    for s in slices:
        for ep in s.endpoints or ():
            if not ep.addresses:
                continue
            cond = ep.conditions
            if cond is not None and cond.ready is False:
                continue
            addr = canonical_ip(ep.addresses[0])
            tr = ep.target_ref
            out[addr] = ReadyEndpoint(addr, ep.node_name or "", ep.zone or "", tr.uid if tr is not None else "",
                                      tr.name if tr is not None else "")
    return out


def ready_count(eps: dict[str, ReadyEndpoint]) -> int:
    """A Service's ready endpoints as a count of backends: the larger per-family count (a dual-stack Pod has
    one endpoint per family, K8S-FACTS 2)."""
    if not any(":" in addr for addr in eps):
        return len(eps)
    per_family: dict[str, int] = {}
    for addr in eps:
        fam = ip_family(addr)
        per_family[fam] = per_family.get(fam, 0) + 1
    return max(per_family.values(), default=0)


# -- discrepancies -----------------------------------------------------------------------------------------

@dataclass
class Problem:
    """One discrepancy that is not in flight; `since` is when the unreconciled change happened. When `exact`
    is False, `since` is only a lower bound (a gone Pod leaves no deletion time)."""

    what: str
    detail: dict[str, object]
    since: datetime | None
    exact: bool = True


@dataclass
class SliceReport:
    slice: KubeObject
    service: KubeObject | None
    problems: list[Problem] = field(default_factory=list)


@dataclass
class ServiceReport:
    service: KubeObject
    missing_families: list[str] = field(default_factory=list)   # no controller slice at all
    ready_families_missing: dict[str, int] = field(default_factory=dict)  # fam -> ready pods, no slice
    missing_ready: list[Problem] = field(default_factory=list)  # ready pods absent from its slices


@dataclass
class EndpointsReport:
    endpoints: KubeObject
    reason: str = ""            # service-gone | frozen | "" (address problems)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class Reconciliation:
    slices: list[SliceReport]
    services: list[ServiceReport]
    latest_controller_write: datetime | None
    frozen: list[SliceReport] = field(default_factory=list)   # leftovers of ExternalName / selectorless


class Reconciler:
    """The discrepancies of one index against the controllers' model, with the grace period scoped to the
    objects involved. One per (index, grace): `Reconciler.of(index, grace)`."""

    def __init__(self, index: ClusterIndex, grace_seconds: int) -> None:
        self.index = index
        self.grace = grace_seconds
        state = index.state
        start = index.taken_at
        if not state.consistent:
            # kinds read at different moments (no single resourceVersion): a change after the earliest read may
            # be seen by one kind and not another; such discrepancies are in flight, never stale
            starts = [w[0] for w in state.kind_reads.values()]
            if starts:
                start = min(min(starts), start)
        self.cutoff = start - timedelta(seconds=grace_seconds)
        self._changed: dict[int, datetime | None] = {}

    @classmethod
    def of(cls, index: ClusterIndex, grace_seconds: int) -> Reconciler:
        key = f"reconciler:{grace_seconds}"
        hit = index.cache.get(key)
        if hit is None:
            hit = index.cache[key] = cls(index, grace_seconds)
        return hit

    # -- time ---------------------------------------------------------------------------------------
    def recent(self, t: datetime | None) -> bool:
        return t is not None and t > self.cutoff

    def pod_changed(self, pod: KubeObject) -> datetime | None:
        key = id(pod)
        if key not in self._changed:
            self._changed[key] = pod_changed_at(pod)
        return self._changed[key]

    def in_flight(self, *, pod: KubeObject | None = None, node: str | None = None, slc: KubeObject | None = None,
                  service: KubeObject | None = None, endpoints: KubeObject | None = None) -> bool:
        """A discrepancy is in flight when one of the objects *in it* changed within the grace period: the
        endpoint's Pod, its Node, the slice (or Endpoints) that lists it, the Service. Nothing else."""
        if pod is not None and self.recent(self.pod_changed(pod)):
            return True
        if node and self.recent(node_changed_at(self.index.nodes.get(node))):
            return True
        if slc is not None and self.recent(write_time(slc)):
            return True
        if endpoints is not None and self.recent(write_time(endpoints)):
            return True
        return service is not None and self.recent(parse_time(service.metadata.creation_timestamp))

    # -- EndpointSlices -------------------------------------------------------------------------------
    def slices(self) -> Reconciliation:
        key = f"reconciliation:{self.grace}"
        hit = self.index.cache.get(key)
        if hit is None:
            hit = self.index.cache[key] = self._reconcile_slices()
        return hit

    def _reconcile_slices(self) -> Reconciliation:
        idx = self.index
        latest: datetime | None = None
        for slc in idx.slices:
            if slice_manager(slc) == CONTROLLER:
                w = write_time(slc)
                if w is not None and (latest is None or w > latest):
                    latest = w
        out = Reconciliation([], [], latest)
        for (ns, name), svc in idx.services.items():
            if svc.metadata.deletion_timestamp is not None or idx.namespace_terminating(ns):
                continue
            own = idx.slices_by_service.get((ns, name), [])
            ctrl = [s for s in own if slice_manager(s) == CONTROLLER and s.metadata.deletion_timestamp is None]
            if not controller_manages(svc):
                out.frozen += self._frozen(svc, ctrl)
                continue
            if self.recent(parse_time(svc.metadata.creation_timestamp)):
                continue
            live = controller_slices(idx, svc)
            for s in ctrl:
                if s not in live:
                    out.slices.append(SliceReport(s, svc, [Problem(
                        "foreign-owner", {"reason": "claims the controller's managed-by but is not owned by the "
                                                    f"live Service (uid {svc.metadata.uid}); the controller "
                                                    "deletes such slices and has not"},
                        parse_time(svc.metadata.creation_timestamp))]))
            rep = self._service(svc, live, out)
            if rep.missing_families or rep.missing_ready:
                out.services.append(rep)
        return out

    def _frozen(self, svc: KubeObject, ctrl: list[KubeObject]) -> list[SliceReport]:
        """The controller ignores selectorless and ExternalName Services and never deletes what it wrote before."""
        out = []
        for s in ctrl:
            if s.endpoints and owned_by(s, "Service", svc.metadata.uid) and not self.recent(write_time(s)):
                if is_external_name(svc):
                    why = ("the Service is now type ExternalName: kube-proxy does not route it and DNS answers "
                           "with a CNAME; this slice is an inert leftover the controller no longer updates")
                else:
                    why = ("the Service has no selector: the controller no longer updates this slice, but "
                           "kube-proxy still routes to its endpoints")
                out.append(SliceReport(s, svc, [Problem("frozen", {"reason": why}, write_time(s), exact=False)]))
        return out

    def _service(self, svc: KubeObject, live: list[KubeObject], out: Reconciliation) -> ServiceReport:
        rep = ServiceReport(svc)
        desired = desired_endpoints(self.index, svc)
        for fam in service_families(svc):
            fam_slices = [s for s in live if s.address_type == fam]
            fam_desired = [d for d in desired if d.family == fam]
            if not fam_slices:
                rep.missing_families.append(fam)
                ready = [d for d in fam_desired if d.ready and not self.in_flight(pod=d.pod)]
                if ready:
                    rep.ready_families_missing[fam] = len(ready)
                continue
            present: set[tuple[str, str]] = set()
            for s in fam_slices:
                sr = self._check_slice(svc, s)
                if sr.problems:
                    out.slices.append(sr)
                for ep in s.endpoints or ():
                    tr = ep.target_ref
                    if ep.addresses and tr is not None:
                        # the controller's endpoint key is address + targetRef namespace/name (K8S-FACTS 4): a Pod
                        # reborn with the same name and IP is present (its stale uid is reported as pod-recreated)
                        addr = canonical_ip(ep.addresses[0])
                        present.add((addr, tr.name))
                        if tr.uid:
                            present.add((addr, tr.uid))
            for d in fam_desired:
                if not d.ready:
                    continue
                if (d.address, d.pod.metadata.uid) in present or (d.address, d.pod.metadata.name) in present:
                    continue
                if self.in_flight(pod=d.pod, node=pod_node(d.pod)):
                    continue
                rep.missing_ready.append(Problem(
                    "missing-ready-pod", self._pod_detail(d.pod, d.address, fam), self.pod_changed(d.pod)))
        return rep

    def _pod_detail(self, pod: KubeObject, address: str, family: str = "") -> dict[str, object]:
        node = pod_node(pod)
        n = self.index.nodes.get(node)
        out: dict[str, object] = {"pod": pod.metadata.name, "uid": pod.metadata.uid, "address": address,
                                  "node": node}
        if family:
            out["family"] = family
        if n is not None:
            zone = n.labels.get("topology.kubernetes.io/zone")
            if zone:
                out["zone"] = zone
        cond = endpoint_conditions(pod, False)
        out["conditions"] = {"ready": cond.ready, "serving": cond.serving, "terminating": cond.terminating}
        return out

    def _check_slice(self, svc: KubeObject, slc: KubeObject) -> SliceReport:
        idx = self.index
        rep = SliceReport(slc, svc)
        ns = slc.metadata.namespace
        written = write_time(slc)
        pnra = publishes_not_ready(svc)
        selected = {p.metadata.uid for p in idx.selected_pods(svc)}
        for ep in slc.endpoints or ():
            tr = ep.target_ref
            if tr is None or tr.kind != "Pod" or not ep.addresses:
                continue
            addr = canonical_ip(ep.addresses[0])
            info: dict[str, object] = {"pod": tr.name, "uid": tr.uid, "address": addr, "node": ep.node_name or ""}
            if ep.zone:
                info["zone"] = ep.zone
            if ep.conditions is not None:
                info["conditions"] = {k: v for k, v in (("ready", ep.conditions.ready),
                                                        ("serving", ep.conditions.serving),
                                                        ("terminating", ep.conditions.terminating)) if v is not None}
            pod = idx.pods.get((tr.namespace or ns, tr.name))
            if pod is None:
                # A gone Pod leaves no deletion time; its deletion would have made the controller rewrite this
                # slice (trigger time), so only the slice and the endpoint's Node can put it in flight.
                if not self.in_flight(slc=slc, node=ep.node_name):
                    rep.problems.append(Problem("pod-gone", info, written, exact=False))
                continue
            if tr.uid and pod.metadata.uid != tr.uid:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("pod-recreated", {**info, "oldUid": tr.uid,
                                                                  "newUid": pod.metadata.uid},
                                                parse_time(pod.metadata.creation_timestamp)))
                continue
            if addr not in pod_ips(pod):
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("ip-changed", {**info, "podIPs": pod_ips(pod)},
                                                self.pod_changed(pod)))
                continue
            node_ok = idx.node_exists(ep.node_name)
            if node_ok is False and pod_node(pod) != ep.node_name:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("node-gone", info, written, exact=False))
                continue
            if node_ok is False and not pnra:
                continue  # Pod still bound to a deleted Node: in flight until PodGC deletes it (K8S-FACTS 8.9)
            if pod.metadata.uid not in selected:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("not-selected", info, written, exact=False))
                continue
            if pod_terminal(pod):
                if not self.in_flight(pod=pod):
                    rep.problems.append(Problem("pod-terminal", {**info, "phase": pod.status.phase
                                                                 if pod.status else ""}, self.pod_changed(pod)))
                continue
            want = endpoint_conditions(pod, pnra)
            cond = ep.conditions
            have_ready = True if cond is None or cond.ready is None else cond.ready
            if have_ready != want.ready and not self.in_flight(pod=pod, slc=slc):
                rep.problems.append(Problem("wrong-ready", {**info, "ready": have_ready, "podReady": want.serving,
                                                            "terminating": want.terminating},
                                            self.pod_changed(pod)))
        return rep

    # -- v1 Endpoints -------------------------------------------------------------------------------
    def endpoints(self) -> list[EndpointsReport]:
        key = f"endpoints:{self.grace}"
        hit = self.index.cache.get(key)
        if hit is None:
            hit = self.index.cache[key] = [r for r in (self._endpoints(ep) for ep in self.index.endpoints.values())
                                           if r is not None]
        return hit

    def _endpoints(self, ep: KubeObject) -> EndpointsReport | None:
        idx = self.index
        ns, name = ep.metadata.namespace, ep.metadata.name
        if is_leader_election(ep) or ep.metadata.deletion_timestamp is not None or idx.namespace_terminating(ns):
            return None
        if self.recent(write_time(ep)):
            return None
        svc = idx.services.get((ns, name))
        if svc is None:
            return EndpointsReport(ep, "service-gone")
        if is_external_name(svc):
            return None  # inert leftover: reported with the ExternalName conversion, not as stale addresses
        if not has_selector(svc) and written_by_endpoints_controller(ep):
            return EndpointsReport(ep, "frozen")
        rep = EndpointsReport(ep)
        ready, not_ready = endpoints_addresses(ep)
        selected = {p.metadata.uid for p in idx.selected_pods(svc)} if has_selector(svc) else None
        for addr in ready + not_ready:
            tr = addr.target_ref
            if tr is None or tr.kind != "Pod":
                continue
            ip = canonical_ip(addr.ip)
            base: dict[str, object] = {"pod": tr.name, "uid": tr.uid, "address": ip, "node": addr.node_name or ""}
            pod = idx.pods.get((tr.namespace or ns, tr.name))
            if pod is None:
                if not self.in_flight(endpoints=ep, node=addr.node_name):
                    rep.problems.append(Problem("pod-gone", base, write_time(ep), exact=False))
            elif tr.uid and tr.uid != pod.metadata.uid:
                if not self.in_flight(pod=pod, endpoints=ep):
                    rep.problems.append(Problem("pod-recreated", base, self.pod_changed(pod)))
            elif ip not in pod_ips(pod):
                if not self.in_flight(pod=pod, endpoints=ep):
                    rep.problems.append(Problem("ip-changed", base, self.pod_changed(pod)))
            elif selected is not None and pod.metadata.uid not in selected:
                # the Endpoints controller re-lists Pods by selector on every sync (K8S-FACTS 8.6)
                if not self.in_flight(pod=pod, endpoints=ep):
                    rep.problems.append(Problem("not-selected", base, write_time(ep), exact=False))
        if controller_manages(svc) and not endpoints_truncated(ep) and idx.has("Pod"):
            rep.problems += self._endpoints_missing(svc, ep, ready)
        return rep if rep.problems else None

    def _endpoints_missing(self, svc: KubeObject, ep: KubeObject, ready: list[EndpointAddress]) -> list[Problem]:
        """Ready Pods of the Service's first family the Endpoints controller would list and this one lacks."""
        primary = service_families(svc)[0]
        listed: set[tuple[str, str]] = set()
        for a in ready:
            ip = canonical_ip(a.ip)
            tr = a.target_ref
            listed.add((ip, tr.name if tr else ""))
            if tr is not None and tr.uid:
                listed.add((ip, tr.uid))
        pnra = publishes_not_ready(svc)
        out = []
        for d in desired_endpoints(self.index, svc):
            # ShouldPodBeInEndpoints: terminating Pods are left out unless publishNotReadyAddresses
            if d.family != primary or not (pnra or (d.serving and not d.terminating)):
                continue
            if ((d.address, d.pod.metadata.uid) in listed or (d.address, d.pod.metadata.name) in listed
                    or (d.address, "") in listed):
                continue
            if not serves_any_port(svc, d.pod):
                continue  # no Service port resolves on this Pod (protocol-aware): the controller skips it
            if not self.in_flight(pod=d.pod, endpoints=ep):
                out.append(Problem("missing-ready-pod", self._pod_detail(d.pod, d.address),
                                   self.pod_changed(d.pod)))
        return out

    # -- mirrored slices ----------------------------------------------------------------------------
    def stale_mirrors(self) -> list[SliceReport]:
        """Mirrored slices whose addresses no longer match their Endpoints beyond the grace period
        (K8S-FACTS 8.7): kube-proxy routes a selectorless Service from them."""
        out = []
        idx = self.index
        for (ns, name), ep in idx.endpoints.items():
            svc = idx.services.get((ns, name))
            if svc is None or has_selector(svc) or is_external_name(svc) or skips_mirror(ep) \
                    or is_leader_election(ep) or ep.metadata.deletion_timestamp is not None:
                continue
            mirrors = mirrored_slices(idx, ep)
            if not mirrors:
                continue
            ready, not_ready = endpoints_addresses(ep)
            want = {canonical_ip(a.ip): True for a in ready}
            want.update({canonical_ip(a.ip): False for a in not_ready if canonical_ip(a.ip) not in want})
            have: dict[str, bool] = {}
            for s in mirrors:
                for e in s.endpoints or ():
                    for a in e.addresses:
                        cond = e.conditions
                        have[canonical_ip(a)] = True if cond is None or cond.ready is None else bool(cond.ready)
            if have == want:
                continue
            if any(self.in_flight(slc=s) for s in mirrors) or self.in_flight(endpoints=ep):
                continue
            extra = sorted(set(have) - set(want))
            lacking = sorted(set(want) - set(have))
            wrong = sorted(a for a in set(have) & set(want) if have[a] != want[a])
            problems = ([Problem("not-in-endpoints", {"address": a}, write_time(ep), exact=False) for a in extra]
                        + [Problem("missing-from-mirror", {"address": a}, write_time(ep), exact=False)
                           for a in lacking]
                        + [Problem("wrong-ready", {"address": a, "ready": have[a]}, write_time(ep), exact=False)
                           for a in wrong])
            out.append(SliceReport(mirrors[0], svc, problems))
        return out


