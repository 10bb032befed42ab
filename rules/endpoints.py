"""Single-state rules about v1 Endpoints: stale, truncated and unmirrored legacy objects."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.analysis import write_time
from auditor.rules.base import Context, rule

from auditor.index import (
    canonical_ip,
    has_selector,
    is_external_name,
    pod_ips,
    ref_of,
    serves_any_port,
    service_families,
)
from auditor.model import Finding, Severity
from auditor.objects import (
    ANN_LEADER,
    ANN_OVER_CAPACITY,
    LABEL_ENDPOINTS_MANAGED_BY,
    LABEL_SKIP_MIRROR,
    EndpointAddress,
    KubeObject,
)

MAX_ENDPOINTS_ADDRESSES = 1000


def _addresses(ep: KubeObject) -> tuple[list[EndpointAddress], list[EndpointAddress]]:
    ready: list[EndpointAddress] = []
    not_ready: list[EndpointAddress] = []
    for sub in ep.subsets or ():
        ready += sub.addresses or []
        not_ready += sub.not_ready_addresses or []
    return ready, not_ready


@rule("stale-endpoints", Severity.WARNING, "v1 Endpoints out of date", needs=("Endpoints", "Service", "Pod"))
def stale_endpoints(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Checks every v1 Endpoints object: addresses whose targetRef Pod is gone, was recreated with
    another uid, or no longer has that IP; ready Pods of a selector Service missing from it (only the
    Service's first IP family, as the Endpoints controller writes; terminating Pods are excluded
    unless `publishNotReadyAddresses`; skipped when truncated at 1000 addresses); Endpoints whose
    Service no longer exists; and Endpoints the controller wrote for a selector the Service no longer
    has. Leader-election Endpoints (`control-plane.alpha.kubernetes.io/leader`) are ignored, and
    changes younger than the grace period are in flight.

    ## Why it matters
    v1 Endpoints is deprecated since 1.33 but still read by older ingress controllers, service
    meshes, monitoring and scripts. kube-proxy reads EndpointSlices, so a stale Endpoints object
    breaks exactly those legacy consumers while everything else looks healthy.

    ## Example
    Endpoints `shop/cart` lists `10.0.3.14` for Pod `cart-7d9f-abcde`, deleted during a node drain,
    and misses the ready replacement Pod.

    ## How to fix
    Check the Endpoints controller (kube-controller-manager). Delete orphan Endpoints whose Service
    is gone. Move legacy consumers to EndpointSlices (`discovery.k8s.io/v1`).
    """
    idx = ctx.index
    for (ns, name), ep in idx.endpoints.items():
        ann = ep.annotations
        if ANN_LEADER in ann or ep.metadata.deletion_timestamp is not None or idx.namespace_terminating(ns):
            continue
        written = write_time(ep)
        if ctx.recent(written):
            continue
        svc = idx.services.get((ns, name))
        if svc is None:
            yield ctx.finding(ref_of(ep), "Endpoints for a Service that no longer exists; legacy consumers "
                              "may still read its addresses", reason="service-gone")
            continue
        if not has_selector(svc) and ep.labels.get(LABEL_ENDPOINTS_MANAGED_BY) == "endpoint-controller":
            yield ctx.finding(ref_of(ep), "written by the Endpoints controller for a selector the Service no "
                              "longer has: nothing updates it any more", reason="frozen")
            continue
        problems: list[dict[str, object]] = []
        ready, not_ready = _addresses(ep)
        for addr in ready + not_ready:
            tr = addr.target_ref
            if tr is None or tr.kind != "Pod":
                continue
            ip = canonical_ip(addr.ip)
            pod = idx.pods.get((tr.namespace or ns, tr.name))
            if pod is None:
                if not idx.recent_sibling(ns, tr.name, ctx.cutoff):
                    problems.append({"problem": "pod-gone", "pod": tr.name, "address": ip})
            elif tr.uid and tr.uid != pod.metadata.uid:
                if not ctx.recent(idx.changed_at(pod)):
                    problems.append({"problem": "pod-recreated", "pod": tr.name, "address": ip})
            elif ip not in pod_ips(pod) and not ctx.recent(idx.changed_at(pod)):
                problems.append({"problem": "ip-changed", "pod": tr.name, "address": ip})
        truncated = ANN_OVER_CAPACITY in ann or len(ready) + len(not_ready) >= MAX_ENDPOINTS_ADDRESSES
        if has_selector(svc) and not is_external_name(svc) and not truncated and idx.has("Pod"):
            primary = service_families(svc)[0]
            # keyed by IP and targetRef uid or name: a Pod reborn with the same name and IP is listed
            # (its old uid is reported above as pod-recreated), not missing
            listed: set[tuple[str, str]] = set()
            for a in ready:
                ip = canonical_ip(a.ip)
                tr = a.target_ref
                listed.add((ip, tr.name if tr else ""))
                if tr is not None and tr.uid:
                    listed.add((ip, tr.uid))
            pnra = bool(svc.spec and svc.spec.publish_not_ready_addresses)
            for d in idx.desired_endpoints(svc):
                if d.family != primary or not (pnra or (d.serving and not d.terminating)):
                    continue
                if ((d.address, d.pod.metadata.uid) in listed or (d.address, d.pod.metadata.name) in listed
                        or (d.address, "") in listed):
                    continue
                if not serves_any_port(svc, d.pod):
                    continue  # every targetPort is a name this Pod lacks: the controller leaves it out
                if not ctx.recent(idx.changed_at(d.pod)):
                    problems.append({"problem": "missing-ready-pod", "pod": d.pod.metadata.name,
                                     "address": d.address})
        if problems:
            kinds = sorted({str(p["problem"]) for p in problems})
            yield ctx.finding(ref_of(ep), f"{len(problems)} stale address(es) ({', '.join(kinds)}): legacy "
                              "Endpoints consumers see addresses that do not match the Pods",
                              addresses=problems[:50])


@rule("truncated-endpoints", Severity.WARNING, "v1 Endpoints truncated at 1000 addresses",
      needs=("Endpoints",))
def truncated_endpoints(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags Endpoints annotated `endpoints.kubernetes.io/over-capacity: truncated`, which the Endpoints
    controller sets when a Service has more than 1000 backing addresses.

    ## Why it matters
    Consumers of v1 Endpoints see only 1000 addresses: the rest of the Pods receive no traffic from
    them. EndpointSlices have no such limit.

    ## Example
    Endpoints `batch/workers` carries `endpoints.kubernetes.io/over-capacity: truncated` for a
    Service with 1400 Pods.

    ## How to fix
    Move the consumers of this Service's Endpoints to EndpointSlices, or split the Service.
    """
    for ep in ctx.index.endpoints.values():
        if ep.annotations.get(ANN_OVER_CAPACITY) == "truncated":
            ready, not_ready = _addresses(ep)
            yield ctx.finding(ref_of(ep), "Endpoints truncated at 1000 addresses: v1 Endpoints consumers "
                              "miss the remaining Pods", addresses=len(ready) + len(not_ready))


@rule("unmirrored-endpoints", Severity.WARNING, "Hand-written Endpoints not mirrored to an EndpointSlice",
      needs=("Endpoints", "Service", "EndpointSlice"))
def unmirrored_endpoints(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For a selectorless Service with a hand-written Endpoints object (no
    `endpointslice.kubernetes.io/skip-mirror: "true"`, no leader-election annotation, at least one
    address), checks that the mirroring controller wrote a slice for it
    (`managed-by: endpointslicemirroring-controller.k8s.io`). Changes younger than the grace period
    are in flight; Services being deleted and namespaces being terminated (which refuse new
    slices) are skipped.

    ## Why it matters
    kube-proxy and CoreDNS read EndpointSlices only. An unmirrored Endpoints object means the
    Service has no endpoints at all for them; mirroring is deprecated with Endpoints and may be
    disabled on newer clusters.

    ## Example
    Service `db/legacy-pg` has no selector and an Endpoints object with `10.1.2.3`; no slice labelled
    `kubernetes.io/service-name: legacy-pg` exists.

    ## How to fix
    Write an EndpointSlice for the Service yourself (with your own `managed-by`), then delete the
    Endpoints object or label it `endpointslice.kubernetes.io/skip-mirror: "true"`. Check that the
    mirroring controller runs if you rely on it.
    """
    idx = ctx.index
    for (ns, name), svc in idx.services.items():
        if has_selector(svc) or is_external_name(svc) or svc.metadata.deletion_timestamp is not None:
            continue
        if idx.namespace_terminating(ns):
            continue  # creates are refused in a terminating namespace: the mirror cannot be written
        ep = idx.endpoints.get((ns, name))
        if ep is None or ANN_LEADER in ep.annotations or ep.labels.get(LABEL_SKIP_MIRROR) == "true":
            continue
        if ns == "default" and name == "kubernetes":
            continue
        ready, not_ready = _addresses(ep)
        if not ready and not not_ready:
            continue
        if idx.mirrored_slices(ep) or ctx.recent(write_time(ep)):
            continue
        yield ctx.finding(ref_of(ep), "hand-written Endpoints of a selectorless Service has no mirrored "
                          "EndpointSlice: kube-proxy and CoreDNS see no endpoints",
                          addresses=len(ready) + len(not_ready))
