"""The reconcile engine: where a state differs from what the EndpointSlice, Endpoints and mirroring controllers
would write, and whether each discrepancy is in flight.

The facts it judges with live in `auditor.facts` (readiness, ports, slice ownership, v1 Endpoints) and the
per-Service desired state in `auditor.analysis.desired`. The grace period applies to the objects in the
discrepancy only (the endpoint's Pod, its Node, the slice, the Service), and a state whose kinds were read at
different moments widens it to the reading window (never "stale" for that).

Rules read `Reconciler` (one per index and grace period, memoised); none re-derives these facts.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from auditor.analysis.desired import Expected, controller_slices, desired_endpoints, expected, mirrored_slices
from auditor.analysis.discrepancies import EndpointsReport, Problem, Reconciliation, ServiceReport, SliceReport
from auditor.facts.endpoints import (
    address_node,
    endpoints_addresses,
    endpoints_truncated,
    is_leader_election,
    skips_mirror,
    written_by_endpoints_controller,
)
from auditor.facts.nodes import node_changed_at
from auditor.facts.nodes import zone as node_zone
from auditor.facts.pods import endpoint_conditions, pod_changed_at, pod_ips, pod_node, pod_terminal, write_time
from auditor.facts.services import (
    controller_manages,
    has_selector,
    is_external_name,
    publishes_not_ready,
    serves_any_port,
    service_families,
)
from auditor.facts.slices import endpoint_ready, owned_by, slice_manager
from auditor.state.clusterstate import parse_time
from auditor.state.labels import CONTROLLER
from auditor.state.objects import Endpoint, EndpointAddress, KubeObject, ObjectReference, canonical_ip

if TYPE_CHECKING:
    from auditor.analysis.index import ClusterIndex


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

    def node_changed(self, name: str) -> datetime | None:
        node = self.index.nodes.get(name)
        if node is None:
            return None
        key = id(node)
        if key not in self._changed:
            self._changed[key] = node_changed_at(node)
        return self._changed[key]

    def in_flight(self, *, pod: KubeObject | None = None, node: str | None = None, slc: KubeObject | None = None,
                  service: KubeObject | None = None, endpoints: KubeObject | None = None) -> bool:
        """A discrepancy is in flight when one of the objects *in it* changed within the grace period: the
        endpoint's Pod, its Node, the slice (or Endpoints) that lists it, the Service. Nothing else."""
        if pod is not None and self.recent(self.pod_changed(pod)):
            return True
        if node and self.recent(self.node_changed(node)):
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
        exp = expected(self.index, svc)
        for fam in service_families(svc):
            fam_slices = [s for s in live if s.address_type == fam]
            fam_desired = [d for d in exp.endpoints if d.family == fam]
            if not fam_slices:
                rep.missing_families.append(fam)
                ready = [d for d in fam_desired if d.ready and not self.in_flight(pod=d.pod)]
                if ready:
                    rep.ready_families_missing[fam] = len(ready)
                continue
            present: set[tuple[str, str]] = set()
            for s in fam_slices:
                sr = self._check_slice(svc, s, exp)
                if sr.problems:
                    out.slices.append(sr)
                for ep in s.endpoints or ():
                    tr = ep.target_ref
                    if ep.addresses and tr is not None:
                        # the controller's endpoint key is address + targetRef namespace/name (endpointslice's
                        # `endpointsEqualBeyondHash` / `newEndpointMeta`): a Pod
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
            zone = node_zone(n)
            if zone:
                out["zone"] = zone
        cond = endpoint_conditions(pod, False)
        out["conditions"] = {"ready": cond.ready, "serving": cond.serving, "terminating": cond.terminating}
        return out

    def _check_slice(self, svc: KubeObject, slc: KubeObject, exp: Expected | None = None) -> SliceReport:
        idx = self.index
        rep = SliceReport(slc, svc)
        ns = slc.metadata.namespace
        written = write_time(slc)
        pnra = publishes_not_ready(svc)
        exp = exp or expected(idx, svc)
        selected = exp.selected
        pods = idx.pods
        for ep in slc.endpoints or ():
            tr = ep.target_ref
            if tr is None or tr.kind != "Pod" or not ep.addresses:
                continue
            addr = canonical_ip(ep.addresses[0])
            pod = pods.get((tr.namespace or ns, tr.name))
            if pod is None:
                # A gone Pod leaves no deletion time; its deletion would have made the controller rewrite this
                # slice (trigger time), so only the slice and the endpoint's Node can put it in flight.
                if not self.in_flight(slc=slc, node=ep.node_name):
                    rep.problems.append(Problem("pod-gone", _endpoint_info(ep, tr, addr), written, exact=False))
                continue
            uid = pod.metadata.uid
            if tr.uid and uid != tr.uid:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("pod-recreated", {**_endpoint_info(ep, tr, addr), "oldUid": tr.uid,
                                                                  "newUid": uid},
                                                parse_time(pod.metadata.creation_timestamp)))
                continue
            ips = pod_ips(pod)
            if addr not in ips:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("ip-changed", {**_endpoint_info(ep, tr, addr), "podIPs": ips},
                                                self.pod_changed(pod)))
                continue
            node_ok = idx.node_exists(ep.node_name)
            if node_ok is False and pod_node(pod) != ep.node_name:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("node-gone", _endpoint_info(ep, tr, addr), written, exact=False))
                continue
            if node_ok is False and not pnra:
                # Pod still bound to a deleted Node: in flight until the Pod garbage collector deletes it (podgc)
                continue
            if uid not in selected:
                if not self.in_flight(pod=pod, slc=slc):
                    rep.problems.append(Problem("not-selected", _endpoint_info(ep, tr, addr), written, exact=False))
                continue
            if pod_terminal(pod):
                if not self.in_flight(pod=pod):
                    phase = pod.status.phase if pod.status else ""
                    rep.problems.append(Problem("pod-terminal", {**_endpoint_info(ep, tr, addr), "phase": phase},
                                                self.pod_changed(pod)))
                continue
            want = exp.conditions.get(id(pod)) or endpoint_conditions(pod, pnra)
            have_ready = endpoint_ready(ep)
            if have_ready != want.ready and not self.in_flight(pod=pod, slc=slc):
                rep.problems.append(Problem("wrong-ready", {**_endpoint_info(ep, tr, addr), "ready": have_ready,
                                                            "podReady": want.serving,
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
            return None  # so below, only the Pod or Node of an address can put its discrepancy in flight
        svc = idx.services.get((ns, name))
        if svc is None:
            return EndpointsReport(ep, "service-gone")
        if is_external_name(svc):
            return None  # inert leftover: reported with the ExternalName conversion, not as stale addresses
        if not has_selector(svc) and written_by_endpoints_controller(ep):
            return EndpointsReport(ep, "frozen")
        rep = EndpointsReport(ep)
        ready, not_ready = endpoints_addresses(ep)
        selected = expected(idx, svc).selected if has_selector(svc) else None
        for addr in ready + not_ready:
            tr = addr.target_ref
            if tr is None or tr.kind != "Pod":  # a hand-written address may name a Node (a kubelet's, say)
                node = address_node(addr)
                if node and idx.node_exists(node) is False:  # the Endpoints' own recent writes returned above
                    rep.problems.append(Problem("node-gone", {"node": node, "address": canonical_ip(addr.ip)},
                                                write_time(ep), exact=False))
                continue
            ip = canonical_ip(addr.ip)
            pod = idx.pods.get((tr.namespace or ns, tr.name))
            if pod is None:
                if not self.in_flight(node=addr.node_name):
                    rep.problems.append(Problem("pod-gone", _address_info(addr, tr, ip), write_time(ep), exact=False))
            elif tr.uid and tr.uid != pod.metadata.uid:
                if not self.in_flight(pod=pod):
                    rep.problems.append(Problem("pod-recreated", _address_info(addr, tr, ip), self.pod_changed(pod)))
            elif ip not in pod_ips(pod):
                if not self.in_flight(pod=pod):
                    rep.problems.append(Problem("ip-changed", _address_info(addr, tr, ip), self.pod_changed(pod)))
            elif selected is not None and pod.metadata.uid not in selected:
                # the Endpoints controller re-lists Pods by selector on every sync
                # (pkg/controller/endpoint/endpoints_controller.go)
                if not self.in_flight(pod=pod):
                    rep.problems.append(Problem("not-selected", _address_info(addr, tr, ip), write_time(ep),
                                                exact=False))
        if controller_manages(svc) and not endpoints_truncated(ep):
            rep.problems += self._endpoints_missing(svc, ready)
        return rep if rep.problems else None

    def _endpoints_missing(self, svc: KubeObject, ready: list[EndpointAddress]) -> list[Problem]:
        """Ready Pods of the Service's first family the Endpoints controller would list and this one lacks."""
        primary = service_families(svc)[0]
        # the address and the targetRef's name, as the controller keys them (no targetRef: the address alone)
        listed = {(canonical_ip(a.ip), a.target_ref.name if a.target_ref else "") for a in ready}
        pnra = publishes_not_ready(svc)
        out = []
        for d in desired_endpoints(self.index, svc):
            # ShouldPodBeInEndpoints: terminating Pods are left out unless publishNotReadyAddresses
            if d.family != primary or not (pnra or (d.serving and not d.terminating)):
                continue
            if (d.address, d.pod.metadata.name) in listed or (d.address, "") in listed:
                continue
            if not serves_any_port(svc, d.pod):
                continue  # no Service port resolves on this Pod (protocol-aware): the controller skips it
            if not self.in_flight(pod=d.pod):
                out.append(Problem("missing-ready-pod", self._pod_detail(d.pod, d.address),
                                   self.pod_changed(d.pod)))
        return out

    # -- mirrored slices ----------------------------------------------------------------------------
    def stale_mirrors(self) -> list[SliceReport]:
        """Mirrored slices whose addresses no longer match their Endpoints beyond the grace period
        (pkg/controller/endpointslicemirroring): kube-proxy routes a selectorless Service from them."""
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
                    ready_now = endpoint_ready(e)
                    for a in e.addresses:
                        have[canonical_ip(a)] = ready_now
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


def _address_info(addr: EndpointAddress, tr: ObjectReference, ip: str) -> dict[str, object]:
    """What a v1 Endpoints address naming a Pod says of itself, as a problem's detail."""
    return {"pod": tr.name, "uid": tr.uid, "address": ip, "node": addr.node_name or ""}


def _endpoint_info(ep: Endpoint, tr: ObjectReference, addr: str) -> dict[str, object]:
    """What a slice endpoint naming a Pod says of itself, as a problem's detail."""
    info: dict[str, object] = {"pod": tr.name, "uid": tr.uid, "address": addr, "node": ep.node_name or ""}
    if ep.zone:
        info["zone"] = ep.zone
    if ep.conditions is not None:
        info["conditions"] = {k: v for k, v in (("ready", ep.conditions.ready), ("serving", ep.conditions.serving),
                                                ("terminating", ep.conditions.terminating)) if v is not None}
    return info
