"""Shared, memoised analyses of controller-managed slices: what is stale, what is missing, and since when.

Several rules read the same comparison of desired and actual endpoints; it is computed once per index.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from auditor.index import (
    ClusterIndex,
    canonical_ip,
    has_selector,
    is_external_name,
    owned_by,
    pod_ips,
    pod_ready,
    service_families,
    slice_manager,
)
from auditor.objects import ANN_TRIGGER_TIME, CONTROLLER, KubeObject
from auditor.state import parse_time


def write_time(obj: KubeObject) -> datetime | None:
    """Latest known write of a controller object: creation or last-change-trigger-time."""
    times = [parse_time(obj.metadata.creation_timestamp),
             parse_time((obj.metadata.annotations or {}).get(ANN_TRIGGER_TIME))]
    known = [t for t in times if t is not None]
    return max(known) if known else None


@dataclass
class Problem:
    """One discrepancy that is not in flight; `since` is when the unreconciled change happened.

    When `exact` is False, `since` is only a lower bound (for example a Pod that is gone leaves no
    deletion time, but it was deleted after the slice's last write).
    """

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
class Reconciliation:
    slices: list[SliceReport]
    services: list[ServiceReport]
    latest_controller_write: datetime | None


def reconciliation(index: ClusterIndex, grace_seconds: int) -> Reconciliation:
    key = f"reconciliation:{grace_seconds}"
    hit = index.cache.get(key)
    if hit is None:
        hit = _compute(index, grace_seconds)
        index.cache[key] = hit
    return hit


def _compute(index: ClusterIndex, grace: int) -> Reconciliation:
    cutoff = index.taken_at - timedelta(seconds=grace)

    def recent(t: datetime | None) -> bool:
        return t is not None and t > cutoff

    slice_reports: list[SliceReport] = []
    service_reports: list[ServiceReport] = []
    latest: datetime | None = None
    for slc in index.slices:
        if slice_manager(slc) == CONTROLLER:
            w = write_time(slc)
            if w is not None and (latest is None or w > latest):
                latest = w

    for (ns, name), svc in index.services.items():
        if svc.metadata.deletion_timestamp is not None or index.namespace_terminating(ns):
            continue
        svc_created = parse_time(svc.metadata.creation_timestamp)
        own = index.slices_by_service.get((ns, name), [])
        ctrl = [s for s in own if slice_manager(s) == CONTROLLER and s.metadata.deletion_timestamp is None]
        if not has_selector(svc) or is_external_name(svc):
            # The controller ignores these Services and never deletes what it wrote before (frozen).
            for s in ctrl:
                if s.endpoints and owned_by(s, "Service", svc.metadata.uid) and not recent(write_time(s)):
                    if is_external_name(svc):
                        why = ("the Service has type ExternalName: the controller no longer updates this slice; "
                               "DNS-based consumers and anything reading slices still see its endpoints")
                    else:
                        why = ("the Service has no selector: the controller no longer updates this slice, but "
                               "kube-proxy still routes to its endpoints")
                    slice_reports.append(SliceReport(s, svc, [Problem(
                        "frozen", {"reason": why},
                        write_time(s), exact=False)]))
            continue
        if recent(svc_created):
            continue
        live = index.controller_slices(svc)
        for s in ctrl:
            if s not in live:
                slice_reports.append(SliceReport(s, svc, [Problem(
                    "foreign-owner", {"reason": "claims the controller's managed-by but is not owned by the "
                                                f"live Service (uid {svc.metadata.uid}); the controller "
                                                "deletes such slices and has not"}, svc_created)]))
        rep = ServiceReport(svc)
        desired = list(index.desired_endpoints(svc))
        families = service_families(svc)
        for fam in families:
            fam_slices = [s for s in live if s.address_type == fam]
            fam_desired = [d for d in desired if d.family == fam]
            if not fam_slices:
                rep.missing_families.append(fam)
                ready = [d for d in fam_desired if d.ready and not recent(index.changed_at(d.pod))]
                if ready:
                    rep.ready_families_missing[fam] = len(ready)
                continue
            present: set[tuple[str, str]] = set()
            for s in fam_slices:
                sr = _check_slice(index, svc, s, cutoff)
                if sr.problems:
                    slice_reports.append(sr)
                for ep in s.endpoints or ():
                    tr = ep.target_ref
                    if ep.addresses and tr is not None:
                        # The controller's endpoint key is address + targetRef namespace/name (K8S-FACTS 4):
                        # a Pod reborn with the same name and IP is present; its stale uid is an attribute
                        # the slice check reports (pod-recreated), not a missing Pod.
                        addr = canonical_ip(ep.addresses[0])
                        present.add((addr, tr.name))
                        if tr.uid:
                            present.add((addr, tr.uid))
            for d in fam_desired:
                if not d.ready:
                    continue
                if (d.address, d.pod.metadata.uid) in present or (d.address, d.pod.metadata.name) in present:
                    continue
                changed = index.changed_at(d.pod)
                if recent(changed):
                    continue
                rep.missing_ready.append(Problem(
                    "missing-ready-pod", {"pod": d.pod.metadata.name, "address": d.address, "family": fam,
                                          "node": d.pod.spec.node_name if d.pod.spec else ""}, changed))
        if rep.missing_families or rep.missing_ready:
            service_reports.append(rep)
    return Reconciliation(slice_reports, service_reports, latest)


def _check_slice(index: ClusterIndex, svc: KubeObject, slc: KubeObject, cutoff: datetime) -> SliceReport:
    def recent(t: datetime | None) -> bool:
        return t is not None and t > cutoff

    rep = SliceReport(slc, svc)
    ns = slc.metadata.namespace
    written = write_time(slc)
    slice_recent = recent(written)
    pnra = bool(svc.spec is not None and svc.spec.publish_not_ready_addresses)
    selected = {p.metadata.uid for p in index.selected_pods(svc)}
    for ep in slc.endpoints or ():
        tr = ep.target_ref
        if tr is None or tr.kind != "Pod" or not ep.addresses:
            continue
        addr = canonical_ip(ep.addresses[0])
        info: dict[str, object] = {"pod": tr.name, "address": addr, "node": ep.node_name or ""}
        pod = index.pods.get((tr.namespace or ns, tr.name))
        if pod is None:
            # A gone Pod leaves no deletion time. In flight if the slice was written within the grace
            # period or a replacement Pod of the same family was created within it.
            if slice_recent or index.recent_sibling(ns, tr.name, cutoff):
                continue
            rep.problems.append(Problem("pod-gone", info, written, exact=False))
            continue
        if tr.uid and pod.metadata.uid != tr.uid:
            created = parse_time(pod.metadata.creation_timestamp)
            if not recent(created):
                rep.problems.append(Problem("pod-recreated", {**info, "oldUid": tr.uid,
                                                              "newUid": pod.metadata.uid}, created))
            continue
        changed = index.changed_at(pod)
        if addr not in pod_ips(pod):
            if not recent(changed) and not slice_recent:
                rep.problems.append(Problem("ip-changed", {**info, "podIPs": pod_ips(pod)}, changed))
            continue
        node_ok = index.node_exists(ep.node_name)
        pod_node = pod.spec.node_name if pod.spec else ""
        if node_ok is False and pod_node != ep.node_name:
            rep.problems.append(Problem("node-gone", info, written, exact=False))
            continue
        if node_ok is False and not pnra:
            continue  # Pod still bound to a deleted Node: PodGC is removing it; the controller waits
        if pod.metadata.uid not in selected:
            if not slice_recent and not recent(changed):
                rep.problems.append(Problem("not-selected", info, written, exact=False))
            continue
        if pod.status is not None and pod.status.phase in ("Succeeded", "Failed"):
            if not recent(changed):
                rep.problems.append(Problem("pod-terminal", {**info, "phase": pod.status.phase}, changed))
            continue
        serving = pod_ready(pod)
        terminating = pod.metadata.deletion_timestamp is not None
        want_ready = pnra or (serving and not terminating)
        cond = ep.conditions
        have_ready = True if cond is None or cond.ready is None else cond.ready
        if have_ready != want_ready and not recent(changed) and not slice_recent:
            rep.problems.append(Problem("wrong-ready", {**info, "ready": have_ready, "podReady": serving,
                                                        "terminating": terminating}, changed))
    return rep
