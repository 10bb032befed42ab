"""Single-state rules about EndpointSlices: who writes them, whether they follow the Pods."""
from __future__ import annotations

from typing import Any, Iterator

from auditor.rules.base import Context, rule

from auditor.analysis.index import ref_of
from auditor.analysis.reconcile import Reconciler
from auditor.facts import fixcmd
from auditor.facts.pods import write_time
from auditor.facts.services import has_selector
from auditor.facts.slices import MULTICLUSTER_WITHOUT_SERVICE_NAME, slice_manager, slice_owner, third_party_writer
from auditor.model import Finding, Severity, cluster_ref
from auditor.state.clusterstate import format_time, parse_time
from auditor.state.labels import LABEL_SERVICE_NAME
from auditor.state.objects import KubeObject, service_selector


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word}es" if word.endswith("s") else f"{n} {word}s"


@rule("handmade-endpointslice", Severity.WARNING, "EndpointSlice not written by a Kubernetes controller",
      needs=("EndpointSlice",))
def handmade_endpointslice(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags every EndpointSlice whose `endpointslice.kubernetes.io/managed-by` label is absent or names
    neither the EndpointSlice controller (`endpointslice-controller.k8s.io`) nor the mirroring
    controller (`endpointslicemirroring-controller.k8s.io`). kube-apiserver's own `default/kubernetes`
    slice is never flagged. Slices written by a known multi-cluster controller (Cilium ClusterMesh,
    Submariner Lighthouse, AWS Cloud Map MCS, Karmada, or a value listed under `third-party-managers`
    in the config) and slices of a selectorless Service that hold only non-Pod addresses are reported
    as info; the rest as warnings.

    ## Why it matters
    The EndpointSlice controller only manages slices carrying its own `managed-by` value. A
    hand-made slice is never updated and never deleted by it: when an upgrade moves Pods to new nodes
    and new IPs, the slice keeps the old addresses. kube-proxy merges every slice carrying the
    Service's `kubernetes.io/service-name` label, so a hand-made slice attached to a selector
    Service sends part of its traffic to addresses that no longer exist, or that VPC CNI has
    handed to another Pod.

    ## Example
    ```yaml
    apiVersion: discovery.k8s.io/v1
    kind: EndpointSlice
    metadata:
      name: cart-manual
      namespace: shop
      labels:
        kubernetes.io/service-name: cart   # cart has a selector
    addressType: IPv4
    endpoints:
      - addresses: ["10.0.12.7"]
    ```

    ## How to fix
    Delete hand-made slices attached to selector Services and let the controller publish the Pods.
    For a selectorless Service, own the slice from automation that updates it, label it
    `endpointslice.kubernetes.io/managed-by: <your-controller>`, and re-check its addresses after
    every node rotation. If a known controller writes it, add its value to `third-party-managers`.
    """
    third = ctx.options.third_party_managers
    for slc in ctx.index.slices:
        if slice_owner(slc, third) not in ("controller", "mirroring", "apiserver"):
            yield _handmade_finding(ctx, slc, third)


def _handmade_finding(ctx: Context, slc: KubeObject, third: tuple[str, ...]) -> Finding:
    """The finding on one slice no controller writes: info when a known third-party controller writes it or it
    holds only non-Pod addresses of a selectorless Service; a warning otherwise."""
    manager = slice_manager(slc)
    svc_name = slc.labels.get(LABEL_SERVICE_NAME)
    svc = ctx.index.services.get((slc.metadata.namespace, svc_name)) if svc_name else None
    eps = slc.endpoints or []
    n = sum(len(e.addresses) for e in eps)
    writer = third_party_writer(slc, third)
    ns = slc.metadata.namespace
    ev: dict[str, Any] = {"managedBy": manager or None, "service": svc_name, "addresses": n,
                          "addressType": slc.address_type,
                          "endpoints": [{"addresses": e.addresses, "pod": e.target_ref.name if e.target_ref else None,
                                         "node": e.node_name} for e in eps[:50]] or None}
    fix = [fixcmd.kubectl_yaml("EndpointSlice", slc.name, ns)]
    if svc is not None and has_selector(svc):
        fix += [fixcmd.slices_of_service(ns, svc.name),
                fixcmd.kubectl("delete", "EndpointSlice", slc.name, ns)]
    who = f"managed-by {manager!r}" if manager else "no managed-by label"
    if writer:
        return ctx.finding(ref_of(slc), f"written by {writer} ({manager}) for Service {svc_name!r}; "
                           "excluded from local Pod reconciliation", severity=Severity.INFO, fix=fix[:1], **ev)
    if svc_name is None:
        return ctx.finding(ref_of(slc), f"hand-made EndpointSlice ({who}) without a "
                           "kubernetes.io/service-name label: kube-proxy and CoreDNS ignore it", fix=fix, **ev)
    if svc is None:
        return ctx.finding(ref_of(slc), f"hand-made EndpointSlice ({who}) for Service {svc_name!r}, "
                           "which does not exist in this namespace", fix=fix, **ev)
    if has_selector(svc):
        fix.insert(1, fixcmd.pods_by_selector(ns, service_selector(svc)))
        return ctx.finding(ref_of(slc), f"hand-made EndpointSlice ({who}) attached to selector Service "
                           f"{svc_name!r}: kube-proxy merges its {_plural(n, 'address')} with the "
                           "controller's, and nobody updates them when Pods move", fix=fix, **ev)
    pod_refs = any(e.target_ref is not None and e.target_ref.kind == "Pod" for e in eps)
    sev = Severity.WARNING if pod_refs else Severity.INFO
    what = ("its Pod addresses go stale when Pods move" if pod_refs
            else "only non-Pod addresses, the documented pattern")
    return ctx.finding(ref_of(slc), f"hand-made EndpointSlice ({who}) for selectorless Service "
                       f"{svc_name!r}: {what}", severity=sev, fix=fix, **ev)


@rule("service-missing-endpointslices", Severity.ERROR,
      "Service with ready Pods but no controller EndpointSlice", needs=("Service", "Pod", "EndpointSlice"),
      convergence=True)
def service_missing_endpointslices(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For every Service with a selector (not ExternalName, not being deleted, older than the grace
    period) that has ready matching Pods, checks that a slice managed by the EndpointSlice
    controller and owned by this Service (ownerReference uid) exists for each of its IP families.

    ## Why it matters
    The controller writes at least one slice per family for every selector Service, even an empty
    placeholder. A Service with ready Pods and no slice is invisible to kube-proxy and CoreDNS:
    its ClusterIP answers nothing. After an upgrade this means the controller is not running, is
    failing for this Service, or its slices were deleted by hand.

    ## Example
    Service `shop/cart` (ipFamilies `[IPv4]`) selects 3 ready Pods; no EndpointSlice labelled
    `kubernetes.io/service-name: cart` with `managed-by: endpointslice-controller.k8s.io` exists.

    ## How to fix
    Check kube-controller-manager health and events on the Service (`kubectl describe svc`, look for
    `FailedToUpdateEndpointSlices`). Touching the Service (for example adding an annotation) forces a
    resync. On EKS, open a support case if the controller does not recover.
    """
    rec = Reconciler.of(ctx.index, ctx.options.grace_seconds).slices()
    for rep in rec.services:
        svc = rep.service
        for fam, n in rep.ready_families_missing.items():
            yield ctx.finding(ref_of(svc), f"{_plural(n, 'ready Pod')} but no controller-managed "
                              f"{fam} EndpointSlice: kube-proxy and CoreDNS see no endpoints",
                              key=fam, family=fam, readyPods=n, selector=service_selector(svc),
                              fix=_service_fix(ctx, svc))


@rule("stale-endpointslice", Severity.ERROR, "Controller EndpointSlice does not match the Pods",
      needs=("Service", "Pod", "EndpointSlice"), convergence=True)
def stale_endpointslice(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Compares every controller-managed slice with the Pods it should describe, keyed by targetRef
    uid and address (never by slice name or count): an endpoint whose Pod is gone, was recreated
    with another uid, no longer has that IP, is terminal, no longer matches the selector, has the
    wrong `ready` condition, or sits on a Node that no longer exists; and a ready matching Pod
    missing from the Service's slices. Changes younger than the grace period are in flight and not
    reported; not-ready, terminating and `publishNotReadyAddresses` Pods follow the controller's own
    rules; Pods still bound to a deleted Node (PodGC pending) are skipped as the controller does.

    ## Why it matters
    A running controller converges within seconds. An endpoint that stays wrong past the grace period
    means slices stopped following Pods: kube-proxy keeps routing to dead or reused IPs, and new
    Pods receive no traffic. After node rotation this is the failure mode that breaks Services.

    ## Example
    Slice `shop/cart-x8k2p` lists `10.0.3.14` for Pod `cart-7d9f-abcde`, which was evicted from a
    drained node 20 minutes ago; its replacement `cart-7d9f-fghij` is ready but in no slice.

    ## How to fix
    Look for `FailedToUpdateEndpointSlices` events on the Service and check kube-controller-manager.
    Deleting the stale controller slice makes the controller rebuild it on its next sync. If the
    Service has no selector any more, its old slices are frozen: delete them.
    """
    rc = Reconciler.of(ctx.index, ctx.options.grace_seconds)
    rec = rc.slices()
    for sr in rec.slices + rc.stale_mirrors():
        yield _slice_finding(ctx, sr.slice, sr.service, sr.problems)
    for sr in rec.frozen:
        svc = sr.service
        external = svc is not None and svc.spec is not None and svc.spec.type == "ExternalName"
        yield _slice_finding(ctx, sr.slice, svc, sr.problems, severity=Severity.INFO if external else None)
    for rep in rec.services:
        if rep.missing_ready:
            pods = rep.missing_ready
            svc = rep.service
            yield ctx.finding(ref_of(svc), f"{_plural(len(pods), 'ready Pod')} missing from the "
                              "Service's EndpointSlices", missing=[p.detail for p in pods],
                              selector=service_selector(svc), fix=_service_fix(ctx, svc))


def _service_fix(ctx: Context, svc: KubeObject) -> list[str]:
    ns, name = svc.metadata.namespace, svc.metadata.name
    eks = ctx.index.eks_data
    return [fixcmd.slices_of_service(ns, name), fixcmd.pods_by_selector(ns, service_selector(svc)),
            fixcmd.events_of("Service", name, ns),
            fixcmd.controller_logs(eks.region if eks else None, eks.name if eks else None)]


def _slice_finding(ctx: Context, slc: KubeObject, svc: KubeObject | None, problems: list, *,
                   severity: Severity | None = None) -> Finding:
    kinds = sorted({p.what for p in problems})
    name = slc.labels.get(LABEL_SERVICE_NAME, "")
    ns = slc.metadata.namespace
    if kinds in (["frozen"], ["foreign-owner"]):
        msg = str(problems[0].detail["reason"])
    else:
        msg = f"{_plural(len(problems), 'stale endpoint')} for Service {name!r} ({', '.join(kinds)})"
    fix = [fixcmd.kubectl_yaml("EndpointSlice", slc.name, ns)]
    if svc is not None and has_selector(svc):
        fix.append(fixcmd.pods_by_selector(ns, service_selector(svc)))
    if "frozen" in kinds or "foreign-owner" in kinds:
        fix.append(fixcmd.kubectl("delete", "EndpointSlice", slc.name, ns))
    else:
        fix.append(fixcmd.events_of("Service", name, ns))
    return ctx.finding(ref_of(slc), msg, severity=severity, service=name,
                       endpoints=[{"problem": p.what, **p.detail} for p in problems], fix=fix)


@rule("endpointslice-controller-disabled", Severity.ERROR, "EndpointSlice controller not reconciling",
      needs=("Service", "Pod", "EndpointSlice"))
def endpointslice_controller_disabled(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Raises one cluster-level finding when some Services' slices are out of date beyond the grace
    period (missing, or stale as `stale-endpointslice` reports) and no controller-managed slice
    anywhere in the cluster shows a write (its creation or its
    `endpoints.kubernetes.io/last-change-trigger-time`) after the oldest of those unreconciled
    changes: the controller has done nothing since. A change whose time is unknown (a Pod that is
    gone leaves no deletion time) is not counted either way, so the rule errs on the side of
    silence. The per-Service findings are still reported.

    ## Why it matters
    A stuck or disabled EndpointSlice controller freezes every Service's routing at the moment it
    stopped. During an upgrade, when every Pod moves, that is a cluster-wide outage in the making.

    ## Example
    Twelve Services have ready Pods missing from their slices since 10:02; the newest controller
    slice write in the cluster is from 09:40.

    ## How to fix
    Check kube-controller-manager (on EKS: control-plane logs `kube-controller-manager`, and the
    `workqueue_depth{name="endpoint_slice"}` metric). On self-managed clusters make sure
    `--controllers` does not disable `endpointslice-controller`.
    """
    rec = Reconciler.of(ctx.index, ctx.options.grace_seconds).slices()
    times = []
    for sr in rec.slices:
        # An inexact time (a gone Pod: only "after the slice's last write") can never prove the
        # controller idle, and must not hide the exact evidence of other problems either.
        times += [p.since for p in sr.problems if p.since is not None and p.exact]
    for rep in rec.services:
        times += [p.since for p in rep.missing_ready if p.since is not None]
        if rep.missing_families:
            t = parse_time(rep.service.metadata.creation_timestamp)
            if t is not None:
                times.append(t)
    affected = {(s.slice.metadata.namespace, s.slice.labels.get(LABEL_SERVICE_NAME, "")) for s in rec.slices}
    affected |= {(r.service.metadata.namespace, r.service.metadata.name) for r in rec.services}
    if not times:
        return
    oldest = min(times)
    last = rec.latest_controller_write
    if last is not None and last >= oldest:
        return
    eks = ctx.index.eks_data
    yield ctx.finding(cluster_ref(), f"{_plural(len(affected), 'Service')} out of date since "
                      f"{format_time(oldest)} and no controller-managed EndpointSlice was written after "
                      "that: the EndpointSlice controller appears disabled or stuck",
                      oldestUnreconciled=format_time(oldest),
                      latestControllerWrite=format_time(last) if last else None,
                      services=sorted(f"{ns}/{n}" for ns, n in affected),
                      fix=[fixcmd.controller_logs(eks.region if eks else None, eks.name if eks else None),
                           "kubectl get --raw /metrics | grep 'workqueue_depth{name=\"endpoint_slice\"}'"])


@rule("orphan-endpointslice", Severity.WARNING, "EndpointSlice for a Service that does not exist",
      needs=("Service", "EndpointSlice"))
def orphan_endpointslice(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags slices whose `kubernetes.io/service-name` label names no Service in their namespace, and
    slices without that label. Slices being deleted or written within the grace period are skipped.

    ## Why it matters
    Orphan slices are garbage at best. Hand-made ones have no ownerReference, so the garbage
    collector never removes them; if a Service of that name is created later, kube-proxy merges
    the orphan's stale addresses into it. A slice without the label is invisible to kube-proxy and
    CoreDNS and was almost certainly meant for something.

    ## Example
    `shop/legacy-cart-1` is labelled `kubernetes.io/service-name: legacy-cart`; no Service
    `shop/legacy-cart` exists.

    ## How to fix
    Delete the slice, or recreate the Service it was meant for. If a controller-owned slice
    lingers after its Service was deleted, check the garbage collector.
    """
    for slc in ctx.index.slices:
        if slc.metadata.deletion_timestamp is not None or ctx.recent(write_time(slc)):
            continue
        svc_name = slc.labels.get(LABEL_SERVICE_NAME)
        manager = slice_manager(slc)
        fix = [fixcmd.kubectl_yaml("EndpointSlice", slc.name, slc.namespace),
               fixcmd.kubectl("delete", "EndpointSlice", slc.name, slc.namespace)]
        if svc_name is None:
            if manager in MULTICLUSTER_WITHOUT_SERVICE_NAME:
                continue  # Submariner Lighthouse leaves it out on purpose: its own CoreDNS plugin reads them
            yield ctx.finding(ref_of(slc), "EndpointSlice has no kubernetes.io/service-name label: "
                              "no Service uses it", managedBy=manager or None, fix=fix)
        elif (slc.metadata.namespace, svc_name) not in ctx.index.services:
            yield ctx.finding(ref_of(slc), f"EndpointSlice names Service {svc_name!r}, which does not "
                              "exist in this namespace", service=svc_name, managedBy=manager or None, fix=fix)
