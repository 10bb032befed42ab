"""ClusterIndex: a pure, read-only index over one cluster state, and the controller's desired endpoints."""
from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, Iterator, NamedTuple

from auditor.model import ObjectRef
from auditor.objects import (
    CONTROLLER,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
    MIRRORING_CONTROLLER,
    KubeObject,
)
from auditor.state import ClusterState, parse_time

Key = tuple[str, str]  # (namespace, name)


def canonical_ip(ip: str) -> str:
    """IPv6 addresses have many spellings; the controllers write the canonical one."""
    if ":" in ip:
        try:
            return str(ipaddress.ip_address(ip))
        except ValueError:
            return ip
    return ip


def ip_family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def pod_ips(pod: KubeObject) -> list[str]:
    st = pod.status
    if st is None:
        return []
    if st.pod_ips:
        return [canonical_ip(p.ip) if ":" in p.ip else p.ip for p in st.pod_ips if p.ip]
    return [canonical_ip(st.pod_ip)] if st.pod_ip else []


def condition(obj: KubeObject, ctype: str) -> Any:
    st = obj.status
    if st is None or not st.conditions:
        return None
    for c in st.conditions:
        if c.type == ctype:
            return c
    return None


def pod_port_names(pod: KubeObject) -> set[str]:
    """Named container ports of a Pod, sidecar (restartable init) containers included (FindPort)."""
    spec = pod.spec
    if spec is None:
        return set()
    names = {p.name for c in spec.containers or () for p in c.ports or () if p.name}
    names |= {p.name for c in spec.init_containers or () if c.restart_policy == "Always"
              for p in c.ports or () if p.name}
    return names


def serves_any_port(svc: KubeObject, pod: KubeObject) -> bool:
    """False when every Service port names a targetPort the Pod does not have: the Endpoints controller
    then leaves the Pod out (K8S-FACTS 2, 'Ports'). Numbered or defaulted targetPorts always resolve."""
    ports = svc.spec.ports if svc.spec is not None else None
    if not ports:
        return True
    named = [p.target_port for p in ports if isinstance(p.target_port, str)]
    if len(named) < len(ports):
        return True
    have = pod_port_names(pod)
    return any(n in have for n in named)


def pod_ready(pod: KubeObject) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.status == "True"


def pod_changed_at(pod: KubeObject) -> datetime | None:
    """The latest moment the pod's endpoint-relevant state changed (creation, readiness, deletion)."""
    times = [parse_time(pod.metadata.creation_timestamp)]
    c = condition(pod, "Ready")
    if c is not None:
        times.append(parse_time(c.last_transition_time))
    times.append(deletion_started(pod))
    known = [t for t in times if t is not None]
    return max(known) if known else None


def deletion_started(obj: KubeObject) -> datetime | None:
    """deletionTimestamp is 'now + grace period' at deletion; the change happened grace seconds earlier."""
    t = parse_time(obj.metadata.deletion_timestamp)
    if t is None:
        return None
    return t - timedelta(seconds=obj.metadata.deletion_grace_period_seconds or 0)


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


def has_selector(svc: KubeObject) -> bool:
    """The controllers test Selector == nil; an empty map is treated the same (K8S-FACTS 4.5)."""
    return bool(svc.spec is not None and svc.spec.selector)


def is_external_name(svc: KubeObject) -> bool:
    return svc.spec is not None and svc.spec.type == "ExternalName"


def slice_manager(slc: KubeObject) -> str:
    return slc.labels.get(LABEL_MANAGED_BY, "")


def is_apiserver_slice(slc: KubeObject) -> bool:
    """kube-apiserver's own default/kubernetes slice: fixed name, no managed-by, no ownerRef."""
    return (slc.metadata.namespace == "default" and slc.metadata.name == "kubernetes"
            and slc.labels.get(LABEL_SERVICE_NAME) == "kubernetes" and LABEL_MANAGED_BY not in slc.labels)


def owned_by(obj: KubeObject, kind: str, uid: str) -> bool:
    for ref in obj.metadata.owner_references or ():
        if ref.kind == kind and ref.uid == uid:
            return True
    return False


def ref_of(obj: KubeObject) -> ObjectRef:
    return ObjectRef(obj.kind, obj.metadata.namespace, obj.metadata.name)


class DesiredEndpoint(NamedTuple):
    """One endpoint the EndpointSlice controller would write for a Service (K8S-FACTS 2, podToEndpoint)."""

    pod: KubeObject
    address: str
    family: str
    ready: bool
    serving: bool
    terminating: bool


class ClusterIndex:
    """Lookups over a ClusterState. Pure: built from the state alone, never changes it."""

    def __init__(self, state: ClusterState) -> None:
        self.state = state
        self.taken_at: datetime = state.taken_at
        self.server_version: str | None = state.server_version
        self.eks: dict[str, Any] | None = state.eks
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
        self._desired: dict[Key, list[DesiredEndpoint]] = {}
        self._changed: dict[int, datetime | None] = {}
        self._has_nodes = state.has("Node")
        #: memo for analyses shared by several rules (computed once per index)
        self.cache: dict[str, Any] = {}

    def has(self, kind: str) -> bool:
        return self.state.has(kind)

    def changed_at(self, pod: KubeObject) -> datetime | None:
        """pod_changed_at, memoised for the index's own Pods (keyed by identity: they live as long as it)."""
        key = id(pod)
        if key in self._changed:
            return self._changed[key]
        t = self._changed[key] = pod_changed_at(pod)
        return t

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
        """Pods (not hostNetwork) holding any of these IPs; one pass, without indexing every Pod IP."""
        out: dict[str, list[KubeObject]] = {}
        if not addresses:
            return out
        for p in self.pods.values():
            st = p.status
            if st is None:
                continue
            # status.podIP is podIPs[0]: test it first, and the other families only when present
            ips = [st.pod_ip] if st.pod_ip else []
            if st.pod_ips is not None and len(st.pod_ips) > 1:
                ips = [x.ip for x in st.pod_ips]
            for ip in ips:
                if ":" in ip:
                    ip = canonical_ip(ip)
                if ip in addresses and not (p.spec is not None and p.spec.host_network):
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
        sel = svc.spec.selector if svc.spec is not None else None
        if not sel:
            self._selected[key] = []
            return []
        ns = svc.metadata.namespace
        lists = [self._label_index.get((ns, k, v), []) for k, v in sel.items()]
        lists.sort(key=len)
        if not lists[0]:
            out: list[KubeObject] = []
        elif len(lists) == 1:
            out = list(lists[0])
        else:
            out = [p for p in lists[0] if all((p.metadata.labels or {}).get(k) == v for k, v in sel.items())]
        self._selected[key] = out
        return out

    # -- the controller's desired state ------------------------------------------------------------
    def desired_endpoints(self, svc: KubeObject) -> list[DesiredEndpoint]:
        """What the EndpointSlice controller would write for this Service (memoised; several rules ask)."""
        key = (svc.metadata.namespace, svc.metadata.name)
        hit = self._desired.get(key)
        if hit is None:
            hit = list(self._desired_endpoints(svc))
            self._desired[key] = hit
        return hit

    def _desired_endpoints(self, svc: KubeObject) -> Iterator[DesiredEndpoint]:
        """What the EndpointSlice controller would write for this Service, per address family.

        Pods are excluded when terminal, without an IP of the family, or (unless
        publishNotReadyAddresses) scheduled on a Node that does not exist.
        """
        pnra = bool(svc.spec is not None and svc.spec.publish_not_ready_addresses)
        families = service_families(svc)
        for pod in self.selected_pods(svc):
            st = pod.status
            if st is not None and st.phase in ("Succeeded", "Failed"):
                continue
            ips = pod_ips(pod)
            if not ips:
                continue
            node = pod.spec.node_name if pod.spec is not None else ""
            if not pnra and self.node_exists(node) is False:
                continue
            serving = pod_ready(pod)
            terminating = pod.metadata.deletion_timestamp is not None
            ready = pnra or (serving and not terminating)
            for fam in families:
                addr = next((ip for ip in ips if ip_family(ip) == fam), None)
                if addr is not None:
                    yield DesiredEndpoint(pod, addr, fam, ready, serving, terminating)

    def controller_slices(self, svc: KubeObject) -> list[KubeObject]:
        """Slices the EndpointSlice controller manages for this live Service (owner uid checked)."""
        uid = svc.metadata.uid
        return [s for s in self.slices_by_service.get((svc.metadata.namespace, svc.metadata.name), ())
                if slice_manager(s) == CONTROLLER and s.metadata.deletion_timestamp is None
                and (not uid or owned_by(s, "Service", uid))]

    def mirrored_slices(self, ep: KubeObject) -> list[KubeObject]:
        uid = ep.metadata.uid
        return [s for s in self.slices_by_service.get((ep.metadata.namespace, ep.metadata.name), ())
                if slice_manager(s) == MIRRORING_CONTROLLER and (not uid or owned_by(s, "Endpoints", uid)
                                                                 or not s.metadata.owner_references)]

    def recent_sibling(self, ns: str, pod_name: str, since: datetime) -> bool:
        """Was a pod of the same generated-name family created after `since` (a replacement in flight)?"""
        base = pod_name.rsplit("-", 1)[0] + "-"
        for _, p in self._pods_by_prefix.get((ns, base), {}).items():
            t = parse_time(p.metadata.creation_timestamp)
            if t is not None and t > since:
                return True
        return False

    @cached_property
    def _pods_by_prefix(self) -> dict[Key, dict[Key, KubeObject]]:
        out: dict[Key, dict[Key, KubeObject]] = {}
        for key, p in self.pods.items():
            base = p.metadata.generate_name or (p.metadata.name.rsplit("-", 1)[0] + "-")
            out.setdefault((key[0], base), {})[key] = p
        return out


class ReadyEndpoint(NamedTuple):
    address: str
    node: str
    zone: str
    pod_uid: str


def service_ready_endpoints(index: ClusterIndex, ns: str, name: str) -> dict[str, ReadyEndpoint]:
    """Ready endpoints kube-proxy gets for a Service from the slices that should describe it.

    Controller slices owned by the live Service, mirrored slices, and, for a selectorless Service,
    hand-made slices; deduplicated by address (duplicates across slices are normal). Memoised per
    index: several pair rules and the rotation summary ask for the same Services.
    """
    memo: dict[Key, dict[str, ReadyEndpoint]] = index.cache.setdefault("ready-endpoints", {})
    hit = memo.get((ns, name))
    if hit is None:
        hit = memo[(ns, name)] = _service_ready_endpoints(index, ns, name)
    return hit


def _service_ready_endpoints(index: ClusterIndex, ns: str, name: str) -> dict[str, ReadyEndpoint]:
    svc = index.services.get((ns, name))
    out: dict[str, ReadyEndpoint] = {}
    if svc is None:
        return out
    selector = has_selector(svc)
    for s in index.slices_by_service.get((ns, name), ()):
        if s.metadata.deletion_timestamp is not None:
            continue
        manager = slice_manager(s)
        if manager == CONTROLLER:
            if svc.metadata.uid and not owned_by(s, "Service", svc.metadata.uid):
                continue
        elif manager != MIRRORING_CONTROLLER and selector:
            continue
        for ep in s.endpoints or ():
            if not ep.addresses:
                continue
            cond = ep.conditions
            if cond is not None and cond.ready is False:
                continue
            addr = ep.addresses[0]
            if ":" in addr:
                addr = canonical_ip(addr)
            out[addr] = ReadyEndpoint(addr, ep.node_name or "", ep.zone or "",
                                      ep.target_ref.uid if ep.target_ref is not None else "")
    return out
