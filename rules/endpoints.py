"""Single-state rules about v1 Endpoints: stale, truncated and unmirrored legacy objects."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, rule

from auditor.analysis.desired import mirrored_slices
from auditor.analysis.index import ref_of
from auditor.analysis.reconcile import Reconciler
from auditor.facts import fixcmd
from auditor.facts.endpoints import endpoints_addresses, is_leader_election, skips_mirror
from auditor.facts.pods import write_time
from auditor.facts.services import has_selector, is_external_name
from auditor.facts.slices import proxied_among
from auditor.model import Finding, Severity
from auditor.state.labels import ANN_OVER_CAPACITY
from auditor.state.objects import service_selector


@rule("stale-endpoints", Severity.WARNING, "v1 Endpoints out of date", needs=("Endpoints", "Service", "Pod"))
def stale_endpoints(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Checks every v1 Endpoints object: addresses whose targetRef Pod is gone, was recreated with
    another uid, or no longer has that IP; ready Pods of a selector Service missing from it (only the
    Service's first IP family, as the Endpoints controller writes; terminating Pods are excluded
    unless `publishNotReadyAddresses`; skipped when truncated at 1000 addresses); Endpoints whose
    Service no longer exists; Endpoints the controller wrote for a selector the Service no longer
    has; and hand-written addresses that name a Node (`targetRef` of kind Node, else `nodeName`) that
    no longer exists, such as prometheus-operator's `kube-system/kubelet` after a node rotation (not
    judged when the state has no Nodes). Leader-election Endpoints
    (`control-plane.alpha.kubernetes.io/leader`) are ignored, and changes younger than the grace period
    are in flight.

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
    for rep in Reconciler.of(idx, ctx.options.grace_seconds).endpoints():
        ep = rep.endpoints
        ns, name = ep.metadata.namespace, ep.metadata.name
        fix = [fixcmd.kubectl_yaml("Endpoints", name, ns)]
        if rep.reason == "service-gone":
            yield ctx.finding(ref_of(ep), "Endpoints for a Service that no longer exists; legacy consumers "
                              "may still read its addresses", reason="service-gone",
                              fix=fix + [fixcmd.kubectl("delete", "Endpoints", name, ns)])
            continue
        if rep.reason == "frozen":
            yield ctx.finding(ref_of(ep), "written by the Endpoints controller for a selector the Service no "
                              "longer has: nothing updates it any more", reason="frozen",
                              fix=fix + [fixcmd.kubectl("delete", "Endpoints", name, ns)])
            continue
        problems = [{"problem": p.what, **p.detail} for p in rep.problems]
        kinds = sorted({p.what for p in rep.problems})
        svc = idx.services.get((ns, name))
        if svc is not None and has_selector(svc):
            fix.append(fixcmd.pods_by_selector(ns, service_selector(svc)))
        fix.append(fixcmd.events_of("Endpoints", name, ns))
        whom = "the Pods" + (" and Nodes" if "node-gone" in kinds else "")
        yield ctx.finding(ref_of(ep), f"{len(problems)} stale address(es) ({', '.join(kinds)}): legacy "
                          f"Endpoints consumers see addresses that do not match {whom}",
                          addresses=problems, fix=fix)


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
            ready, not_ready = endpoints_addresses(ep)
            ns, name = ep.metadata.namespace, ep.metadata.name
            yield ctx.finding(ref_of(ep), "Endpoints truncated at 1000 addresses: v1 Endpoints consumers "
                              "miss the remaining Pods", addresses=len(ready) + len(not_ready),
                              fix=[fixcmd.slices_of_service(ns, name, output=None)])


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
        if ep is None or is_leader_election(ep) or skips_mirror(ep):
            continue
        if ns == "default" and name == "kubernetes":
            continue
        ready, not_ready = endpoints_addresses(ep)
        if not ready and not not_ready:
            continue
        if mirrored_slices(idx, ep) or ctx.recent(write_time(ep)):
            continue
        others = proxied_among(svc, idx.slices_by_service.get((ns, name), ()))
        seen = (f"kube-proxy and CoreDNS route from the {len(others)} other slice(s) labelled with its name, not "
                "from these addresses") if others else "kube-proxy and CoreDNS see no endpoints"
        yield ctx.finding(ref_of(ep), "hand-written Endpoints of a selectorless Service has no mirrored "
                          f"EndpointSlice: {seen}",
                          addresses=len(ready) + len(not_ready),
                          fix=[fixcmd.kubectl_yaml("Endpoints", name, ns),
                               fixcmd.slices_of_service(ns, name, output=None)])
