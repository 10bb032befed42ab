"""Before/after rules: what an upgrade's node rotation left behind (compare and verify)."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, rule

from auditor.analysis.desired import service_ready_endpoints
from auditor.analysis.index import ClusterIndex, ref_of
from auditor.analysis.reconcile import Reconciler
from auditor.facts import fixcmd
from auditor.facts.nodes import eks_nodegroup
from auditor.facts.pods import pod_node
from auditor.facts.services import has_selector
from auditor.facts.slices import (
    ReadyEndpoint,
    is_handmade,
    is_remote_writer,
    ready_count,
    slice_owner,
    third_party_writer,
)
from auditor.model import Finding, Severity
from auditor.state.labels import LABEL_SERVICE_NAME
from auditor.state.objects import KubeObject, canonical_ip, service_selector


def _before(ctx: Context) -> ClusterIndex:
    assert ctx.before is not None, "pair rules run only with a BEFORE state"
    return ctx.before


def ready_endpoints(index: ClusterIndex, ns: str, name: str) -> dict[str, ReadyEndpoint]:
    svc = index.services.get((ns, name))
    if svc is None or svc.metadata.deletion_timestamp is not None:
        return {}
    return service_ready_endpoints(index, ns, name)


def _pods_in_flight(ctx: Context, svc: KubeObject | None) -> bool:
    """The Service's count is in flight when a Pod that backed it BEFORE, or one selected now, changed within
    the grace period: the objects of this discrepancy, not every replica of its workload."""
    if svc is None:
        return False
    rc = Reconciler.of(ctx.index, ctx.options.grace_seconds)
    return any(rc.in_flight(pod=p) for p in ctx.index.selected_pods(svc)) if has_selector(svc) else False


def _svc_fix(svc: KubeObject) -> list[str]:
    ns, name = svc.metadata.namespace, svc.metadata.name
    out = [fixcmd.slices_of_service(ns, name)]
    if has_selector(svc):
        out += [fixcmd.pods_by_selector(ns, service_selector(svc)),
                fixcmd.describe_pods(ns, service_selector(svc))]
    return out


@rule("endpoints-on-removed-node", Severity.ERROR, "Endpoint on a Node removed by the rotation", mode="pair",
      needs=("Node", "EndpointSlice"), convergence=True)
def endpoints_on_removed_node(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags AFTER slices with an endpoint whose `nodeName` names a Node that existed BEFORE and is
    gone AFTER. Endpoints of Pods still bound to that Node (PodGC has not removed them yet) are in
    flight, as are controller slices of a Service whose Pods changed within the grace period; slices
    being deleted and slices of known multi-cluster writers (remote node names) are skipped.

    ## Why it matters
    A removed node's Pods are gone with it. An endpoint still pointing there is a black hole for
    kube-proxy, or, once VPC CNI hands the IP to another Pod, traffic for the wrong workload.

    ## Example
    The old node group `ng-blue` was deleted; slice `shop/recommendations-pfg9g` still lists
    `10.0.65.22` on `ip-10-0-1-11.eu-west-1.compute.internal`.

    ## How to fix
    For a controller slice: find why the controller does not update it (`FailedToUpdateEndpointSlices`
    events) and delete the slice to force a rebuild. For a hand-made slice: update or delete it.
    """
    before = _before(ctx)
    gone = {n for n in before.nodes if n not in ctx.index.nodes}
    if not gone:
        return
    rc = Reconciler.of(ctx.index, ctx.options.grace_seconds)
    for slc in ctx.index.slices:
        if is_remote_writer(slc) or third_party_writer(slc, ctx.options.third_party_managers) \
                or slc.metadata.deletion_timestamp is not None:
            continue  # remote writers (Cilium ClusterMesh) name other clusters' nodes, not ours
        if slice_owner(slc) in ("controller", "mirroring") and rc.in_flight(slc=slc):
            continue  # the slice itself was written within the grace period: the controller is on it
        hits = []
        for ep in slc.endpoints or ():
            if ep.node_name in gone:
                tr = ep.target_ref
                pod = ctx.index.pods.get((tr.namespace or slc.metadata.namespace, tr.name)) if tr else None
                if pod is not None and pod_node(pod) == ep.node_name:
                    continue  # Pod object still bound to the deleted Node: in flight until the Pod GC removes it
                old = before.nodes.get(ep.node_name or "")
                hits.append({"address": ep.addresses[0] if ep.addresses else "", "node": ep.node_name,
                             "nodegroup": eks_nodegroup(old) if old is not None else None,
                             "zone": ep.zone, "pod": tr.name if tr else None, "uid": tr.uid if tr else None})
        if hits:
            nodes = sorted({str(h["node"]) for h in hits})
            svc = slc.labels.get(LABEL_SERVICE_NAME)
            ns = slc.metadata.namespace
            fix = [fixcmd.kubectl_yaml("EndpointSlice", slc.name, ns)]
            if svc:
                fix.append(fixcmd.events_of("Service", svc, ns))
            if slice_owner(slc) == "controller":
                fix.append(fixcmd.kubectl("delete", "EndpointSlice", slc.name, ns) + "  # the controller rebuilds it")
            yield ctx.finding(ref_of(slc), f"{len(hits)} endpoint(s) on removed node(s) {', '.join(nodes[:3])}"
                              f"{' …' if len(nodes) > 3 else ''} for Service {svc or '?'!r}", endpoints=hits,
                              service=svc, removedNodes=nodes, fix=fix)


@rule("service-lost-endpoints", Severity.ERROR, "Service lost all its ready endpoints", mode="pair",
      needs=("Service", "EndpointSlice"), convergence=True)
def service_lost_endpoints(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags a Service (matched by namespace and name, so a Service recreated with a new uid is still
    compared) that had ready endpoints BEFORE and has none AFTER. Ready endpoints are counted from
    the controller's slices owned by the live Service, mirrored slices, and, for a selectorless
    Service, its own slices; duplicates are counted once. Services deleted on purpose are not
    flagged, nor Services whose Pods changed within the grace period.

    ## Why it matters
    Zero ready endpoints is an outage for every client of the Service. After node rotation it
    usually means Pods cannot be scheduled on the new nodes (node selectors, taints, affinity,
    resources, volumes in another zone) or never become ready there.

    ## Example
    `search/query-api` had 2 ready endpoints before; after the migration its Pods are Pending with
    a nodeSelector for the deleted node group.

    ## How to fix
    `kubectl get pods -l <selector>` and `kubectl describe pod` to see why the Pods are not ready or
    not scheduled; fix selectors/tolerations for the new node group, or scale the new group.
    """
    before = _before(ctx)
    for (ns, name), svc in ctx.index.services.items():
        if (ns, name) not in before.services or svc.metadata.deletion_timestamp is not None:
            continue  # deleted on purpose: going away with its endpoints
        had = ready_count(ready_endpoints(before, ns, name))
        if not had:
            continue
        now = service_ready_endpoints(ctx.index, ns, name)
        if now or _pods_in_flight(ctx, svc):
            continue
        pods = ctx.index.selected_pods(svc) if has_selector(svc) else []
        was = ready_endpoints(before, ns, name)
        yield ctx.finding(ref_of(svc), f"had {had} ready endpoint(s) before, none after",
                          readyBefore=had, readyAfter=0, podsAfter=len(pods),
                          endpointsBefore=[{"address": e.address, "pod": e.pod, "uid": e.pod_uid, "node": e.node,
                                            "zone": e.zone} for e in was.values()],
                          podsNotReady=[{"pod": p.metadata.name, "uid": p.metadata.uid, "node": pod_node(p) or None,
                                         "phase": p.status.phase if p.status else None} for p in pods],
                          selector=service_selector(svc) or None, fix=_svc_fix(svc))


@rule("service-capacity-dropped", Severity.WARNING, "Service has fewer ready endpoints than before",
      mode="pair", needs=("Service", "EndpointSlice"), options=("rules.service-capacity-dropped.tolerance",))
def service_capacity_dropped(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags a Service whose ready endpoints AFTER are fewer than BEFORE by more than the tolerance
    (config `rules.service-capacity-dropped.tolerance`: a number of endpoints, default 0, or a
    percentage such as `"25%"` of the BEFORE count). Endpoints are counted per address family and
    the larger family counts, so a dual-stack Pod is one endpoint, not two. A Service that lost all
    endpoints is reported by `service-lost-endpoints` instead.

    ## Why it matters
    A rotation that finishes with fewer serving Pods leaves less headroom: Pods stuck Pending on
    the new nodes, or replicas that never came back, surface as latency or errors under load.

    ## Example
    `shop/frontend` served from 6 ready endpoints before and 4 after; two Pods are Pending.

    ## How to fix
    Check for Pending or not-ready Pods of the Service and for capacity in the new node group. If
    the Service was scaled down on purpose, raise the tolerance or exclude it in the config.
    """
    before = _before(ctx)
    for (ns, name), svc in ctx.index.services.items():
        if (ns, name) not in before.services or svc.metadata.deletion_timestamp is not None:
            continue
        had = ready_count(ready_endpoints(before, ns, name))
        now = ready_count(ready_endpoints(ctx.index, ns, name))
        if now == 0 or now >= had:
            continue
        allowed = (ctx.options.capacity_tolerance * had if ctx.options.capacity_tolerance_is_ratio
                   else ctx.options.capacity_tolerance)
        if had - now <= allowed or _pods_in_flight(ctx, svc):
            continue
        yield ctx.finding(ref_of(svc), f"ready endpoints dropped from {had} to {now}",
                          readyBefore=had, readyAfter=now, tolerance=allowed, fix=_svc_fix(svc))


@rule("handmade-endpointslice-stale", Severity.ERROR, "Hand-made EndpointSlice kept dead Pod IPs",
      mode="pair", needs=("Pod", "EndpointSlice"), convergence=True)
def handmade_endpointslice_stale(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags a hand-made slice (no controller `managed-by`, not a known third-party writer) AFTER that
    lists an address which was a Pod IP BEFORE and is no Pod's IP AFTER. An address another Pod now
    holds (VPC CNI reuses IPs) is flagged too when the endpoint's `targetRef` names a Pod other than
    the holder, or, without a `targetRef`, when the slice is unchanged since BEFORE (same uid and
    resourceVersion) and the holder is not the Pod that had the address BEFORE. An endpoint that names
    a Node (`targetRef` of kind Node, else `nodeName`) which existed BEFORE and is gone AFTER is
    flagged too (a kubelet or node-exporter address written by hand outlives its Node).

    ## Why it matters
    Nobody updates hand-made slices: the EndpointSlice controller ignores them. When the rotation
    moved the Pods, the slice kept their old IPs, and kube-proxy still sends traffic there.

    ## Example
    `shop/cart-manual` lists `10.0.64.3`, the IP of a cart Pod that ran on a deleted ng-blue node.

    ## How to fix
    Delete the slice if the Service has a selector (the controller publishes the Pods), or update it
    from automation that follows the Pods.
    """
    before = _before(ctx)
    third = ctx.options.third_party_managers
    handmade = [slc for slc in ctx.index.slices if is_handmade(slc, third)]
    if not handmade:
        return
    wanted = {canonical_ip(a) for slc in handmade for ep in slc.endpoints or () for a in ep.addresses}
    before_ips = before.pods_holding(wanted)
    after_ips = ctx.index.pods_holding(wanted)
    gone = {n for n in before.nodes if ctx.index.node_exists(n) is False}  # Nodes the rotation removed
    for slc in handmade:
        old = before.lookup(ref_of(slc))
        untouched = (old is not None and old.metadata.uid == slc.metadata.uid
                     and old.metadata.resource_version == slc.metadata.resource_version)
        dead = _dead_addresses(slc, before_ips, after_ips, untouched, gone)
        if dead:
            reused = sum(1 for d in dead if "podAfter" in d)
            of = "Pods or Nodes" if any("nodeBefore" in d for d in dead) else "Pods"
            what = (f"{len(dead)} address(es) of {of} that no longer exist" if not reused else
                    f"{len(dead)} address(es) of Pods that no longer exist or whose IP another Pod now holds "
                    f"({reused} reused)")
            yield ctx.finding(ref_of(slc), f"hand-made EndpointSlice lists {what}; nothing will update it",
                              addresses=dead, service=slc.labels.get(LABEL_SERVICE_NAME),
                              fix=[fixcmd.kubectl_yaml("EndpointSlice", slc.name, slc.namespace),
                                   fixcmd.kubectl("edit", "EndpointSlice", slc.name, slc.namespace)])


def _dead_addresses(slc: KubeObject, before_ips: dict[str, list[KubeObject]], after_ips: dict[str, list[KubeObject]],
                    untouched: bool, gone: set[str]) -> list[dict[str, str]]:
    """The slice's addresses that were a Pod's IP BEFORE and no longer lead to that Pod AFTER (gone, or reused
    by another Pod), each with the Pod that had it and the one that has it now; and those of endpoints that
    name a Node (`targetRef` kind Node, else `nodeName`) the rotation removed (`gone`). `untouched`: the slice
    is unchanged since BEFORE, the only proof of reuse an endpoint without a targetRef gives."""
    dead = []
    for ep in slc.endpoints or ():
        tr = ep.target_ref
        node = tr.name if tr is not None and tr.kind == "Node" else (ep.node_name or "" if tr is None else "")
        for raw in ep.addresses:
            addr = canonical_ip(raw)
            if addr not in before_ips:
                if node in gone:  # a hand-written Node address (a kubelet's, say) outliving its Node
                    dead.append({"address": raw, "nodeBefore": node})
                continue  # never a Pod IP (an external address): not ours to judge
            was = before_ips[addr][0]
            now = after_ips.get(addr)
            if now and {p.metadata.uid for p in now} == {p.metadata.uid for p in before_ips[addr]}:
                continue  # the same Pod(s) hold it as before: the rotation did not touch it
            if now and tr is not None and tr.uid:
                ns = tr.namespace or slc.metadata.namespace
                if any(p.metadata.uid == tr.uid or (p.metadata.name == tr.name and p.metadata.namespace == ns)
                       for p in now):
                    continue  # the Pod it names (or, reborn with a new uid, its namesake) holds the address
            elif now and not (untouched and all(p.metadata.uid != was.metadata.uid for p in now)):
                continue  # a Pod holds it; without a targetRef only an unchanged slice proves reuse
            row = {"address": raw, "podBefore": f"{was.metadata.namespace}/{was.metadata.name}"}
            if now:
                row["podAfter"] = f"{now[0].metadata.namespace}/{now[0].metadata.name}"
            dead.append(row)
    return dead


@rule("handmade-endpointslice-removed", Severity.ERROR, "Hand-made EndpointSlice disappeared", mode="pair",
      needs=("EndpointSlice",))
def handmade_endpointslice_removed(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Flags a hand-made slice (no controller `managed-by`, not a known third-party writer) present
    BEFORE and absent AFTER.

    ## Why it matters
    Hand-made slices usually carry endpoints no controller can recreate (external databases,
    other clusters). If one vanished during the upgrade (a namespace recreated, a GitOps prune, a
    cleanup script), its Service silently lost those endpoints.

    ## Example
    `data/legacy-db-1` (managed-by `dba-team`) existed before the upgrade and is gone after it.

    ## How to fix
    Restore the slice from source control or the BEFORE snapshot, or, if its removal was intended,
    exclude it in the config with a reason.
    """
    before = _before(ctx)
    third = ctx.options.third_party_managers
    for slc in before.slices:
        if not is_handmade(slc, third):
            continue
        key = (slc.metadata.namespace, slc.metadata.name)
        if ctx.index.lookup(ref_of(slc)) is not None:
            continue
        svc = slc.labels.get(LABEL_SERVICE_NAME)
        still = svc is not None and (key[0], svc) in ctx.index.services
        yield ctx.finding(ref_of(slc), "hand-made EndpointSlice present before is gone after"
                          + (f"; Service {svc!r} still exists and lost its endpoints" if still else ""),
                          service=svc, addresses=sum(len(e.addresses) for e in slc.endpoints or ()),
                          endpoints=[{"addresses": e.addresses, "node": e.node_name} for e in slc.endpoints or ()],
                          fix=["# restore it from source control or from the BEFORE snapshot, then: "
                               "kubectl apply -f SLICE.yaml  (SLICE.yaml: the slice's manifest)"]
                          + ([fixcmd.slices_of_service(slc.namespace, svc)] if svc else []))


PAIR_RULES = (endpoints_on_removed_node, service_lost_endpoints, service_capacity_dropped,
              handmade_endpointslice_stale, handmade_endpointslice_removed)


