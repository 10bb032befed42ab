"""Single-state rules about the coming node rotation: which Services will lose their endpoints while the nodes
the upgrade replaces are drained (the plan: `auditor.analysis.plan`), and which drains will stall on a
PodDisruptionBudget. Workload kinds (Deployments, ReplicaSets, StatefulSets) only refine messages and fixes."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, rule
from auditor.rules.rotationkit import (
    PROBE_DOCS,
    Backend,
    backends,
    candidates,
    drain_consequence,
    groups_text,
    names,
    one_zone,
    pdb_selector,
    plan_for,
    plural,
    readiness_checked,
    readiness_probe_fix,
    rotating,
    scale_fix,
    services,
    services_of_pod,
    spread_fix,
    workload_text,
    workloads_of,
)

from auditor.analysis.index import ref_of
from auditor.analysis.plan import PlanGroup
from auditor.analysis.workloads import budget_of, pdbs_selecting, pods_selected, workload_of
from auditor.facts import fixcmd
from auditor.facts.nodes import is_fargate
from auditor.facts.pods import pod_node, pod_ready, pod_terminal, pod_terminating
from auditor.facts.services import publishes_not_ready
from auditor.facts.workloads import budget, follows_node
from auditor.model import Finding, Severity
from auditor.state.labels import LABEL_ZONE
from auditor.state.objects import label_selector

#: what every rotation rule reads; a state without one of them is incomplete and the rule does not run
_SERVICE_KINDS = ("Node", "Pod", "Service", "EndpointSlice")


@rule("service-single-replica", Severity.WARNING, "Service served by one Pod on a rotating node",
      needs=_SERVICE_KINDS, options=("target-version", "rotating"))
def service_single_replica(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Takes the rotation plan (the nodes the upgrade replaces: `--rotating NODEGROUP` /
    `karpenter:NODEPOOL`, or by default every node group or node below `--target-version`) and reports
    each Service whose ready endpoints all belong to a single Pod on one of those nodes. The message
    names the Pod, its node and node group, and the workload behind it (Deployment through its
    ReplicaSet, or StatefulSet) with its replica count when the state has those kinds.

    Not counted: Pods owned by a DaemonSet, and static Pods, hostNetwork system Pods of
    `kube-system` included when a DaemonSet owns them (a drain does not evict them; every new node
    starts its own before the old node goes); Pods on Fargate (Fargate nodes are never in the plan: their
    Pods are redeployed one by one); the apiserver's `default/kubernetes` Service (not a workload).
    Services with `publishNotReadyAddresses` are judged like any other: the replacement Pod is published
    as soon as it has an IP, but between the eviction and that moment there is no endpoint at all. A
    Service with a ready endpoint whose Pod is not in the state is skipped (`stale-endpointslice` reports
    it). Without a target version and without `--rotating` the rule does not run.

    ## Why it matters
    During the drain the Pod is evicted first and rescheduled after: until the new Pod is ready on
    another node the Service has zero endpoints and every connection to it fails. A StatefulSet is
    worse: it creates the replacement only once the old Pod is completely gone.

    ## Example
    `search/query-api` has one ready endpoint, Pod `query-api-6f7d9c-x2x9k` on
    `ip-10-0-1-17.eu-west-1.compute.internal` in node group `ng-blue`, which is below the target 1.31.

    ## How to fix
    Run at least two replicas before the rotation (`kubectl -n NS scale deployment/NAME --replicas=2`)
    and add a PodDisruptionBudget with `maxUnavailable: 1`, so the drain waits for the second one.

    A PDB on a single replica (`minAvailable: 1`) does not help: it blocks the drain instead (see
    `pdb-blocks-drain`).
    """
    plan = plan_for(ctx)
    idx = ctx.index
    for b in services(idx):
        if len(b.pods) != 1 or b.unknown:
            continue
        only = b.pods[0]
        group = rotating(plan, only)
        if group is None or not only.movable:
            continue
        svc = b.service
        ws = workloads_of(idx, [only.pod])
        w = ws[0]
        outcome = {"StatefulSet": "the Service has no endpoint until the StatefulSet recreates it, which it does "
                                  "only once the old Pod is gone",
                   "Pod": "the Service loses its only endpoint for good: no controller recreates a bare Pod",
                   }.get(w.kind, "the Service has no endpoint while it is rescheduled")
        wants = ""
        if w.replicas is not None and w.kind != "Pod":
            wants = (f"; {w.kind} {w.name} runs 1 replica" if w.replicas == 1
                     else f"; {w.kind} {w.name} wants {w.replicas} replicas but only this one is ready")
        fix = scale_fix(ws, 2)
        if idx.has("PodDisruptionBudget") and not pdbs_selecting(idx, only.pod) and w.match_labels:
            fix.append(fixcmd.create_pdb(f"{w.name}-pdb", svc.namespace, w.match_labels))
        fix.append(fixcmd.pods_by_selector(svc.namespace, w.match_labels) if w.match_labels
                   else fixcmd.kubectl("get", "pod", only.pod.name, svc.namespace, "-o", "wide"))
        yield ctx.finding(
            ref_of(svc), f"its {plural(len(only.addresses), 'ready endpoint')} "
            f"{'belongs' if len(only.addresses) == 1 else 'belong'} to one Pod, {only.pod.name}, on rotating node "
            f"{only.node} ({group.label}){wants}: {outcome}",
            pod=only.name, node=only.node, nodegroup=group.label, nodegroups=[group.label], groupKind=group.kind,
            planReason=group.reason,
            readyEndpoints=len(only.addresses), workload=w.to_json() if w.kind != "Pod" else None, fix=fix)


@rule("service-rotation-unprotected", Severity.ERROR,
      "Service whose endpoints all rotate without a protecting PodDisruptionBudget",
      needs=(*_SERVICE_KINDS, "PodDisruptionBudget"), options=("target-version", "rotating"))
def service_rotation_unprotected(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports each Service with several ready endpoints (at least two distinct Pods), all on nodes the
    rotation plan replaces, whose Pods no PodDisruptionBudget protects: no PDB in the namespace selects
    them, or every PDB that does allows losing all of them (`maxUnavailable` at least the Pod count,
    `minAvailable: 0` or `0%`). Percentages are resolved as the disruption controller does: rounded
    up, against the PDB's `status.expectedPods` (else the Pods counted). A Service that keeps any
    ready endpoint off the plan, or whose PDB keeps at least one Pod, is protected.

    Not counted: DaemonSet Pods and static Pods (hostNetwork system Pods of `kube-system` that a
    DaemonSet owns included) are not evicted by a drain, so a Service backed by one of them keeps an
    endpoint; Fargate Pods are never on rotating nodes; the `default/kubernetes` Service is skipped.
    `publishNotReadyAddresses` Services are judged like any other: an evicted Pod leaves them too. A
    Service with a ready endpoint whose Pod is not in the state is skipped (`stale-endpointslice`
    reports it). Needs PodDisruptionBudgets in the state (does not run without them) and a rotation plan.

    ## Why it matters
    Without a budget the drain evicts as fast as it can: the EKS managed node group update drains
    up to `maxUnavailable` nodes at once, Karpenter drains every drifted node its disruption budget
    allows, and `kubectl drain` does not wait for replacements. When all ready Pods sit on rotating nodes
    the last one can be evicted before any replacement is ready: the Service has no endpoint.

    ## Example
    `shop/cart` has 3 ready endpoints, all on `ng-blue` nodes, and no PDB selects `app=cart`.

    ## How to fix
    Add a PodDisruptionBudget that keeps at least one Pod
    (`kubectl -n NS create poddisruptionbudget NAME --selector=app=cart --max-unavailable=1`), or fix
    the one that allows losing all of them (`maxUnavailable: 1`).
    """
    plan = plan_for(ctx)
    idx = ctx.index
    for b in services(idx):
        if len(b.pods) < 2 or b.unknown:
            continue
        groups = [rotating(plan, x) for x in b.pods]
        if any(g is None for g in groups) or not all(x.movable for x in b.pods):
            continue
        pods = [x.pod for x in b.pods]
        pdbs = {(p.namespace, p.name): p for pod in pods for p in pdbs_selecting(idx, pod)}
        svc = b.service
        count = len(pods)
        views = []
        protected = False
        for pdb in pdbs.values():
            budg = budget_of(idx, pdb)
            views.append({"name": pdb.name, **budg.to_json()})
            if not budg.allows_losing_all:
                protected = True
        if protected:
            continue
        ws = workloads_of(idx, pods)
        planned = [g for g in groups if g is not None]
        where = f"all on rotating nodes ({groups_text(planned)})"
        if pdbs:
            why = "; ".join(f"PodDisruptionBudget {v['name']} ({v['spec']}) lets a drain evict all of them"
                            for v in views)
            fix = [fixcmd.patch_merge("pdb", str(v["name"]), svc.namespace,
                                      {"spec": {"minAvailable": None, "maxUnavailable": 1}}) for v in views]
        else:
            why = "no PodDisruptionBudget selects their Pods"
            sel = pdb_selector(idx, svc, ws)
            name = ws[0].name if len(ws) == 1 and ws[0].kind != "Pod" else svc.name
            fix = [fixcmd.create_pdb(f"{name}-pdb", svc.namespace, sel)] if sel else []
        behind = workload_text(ws)
        yield ctx.finding(
            ref_of(svc), f"{count} ready Pods, {where}, and {why}: a drain may evict the last ready one before "
            f"a replacement is ready" + (f" ({behind})" if behind else ""),
            readyPods=count, pods=names(x.name for x in b.pods), nodes=names(x.node for x in b.pods),
            nodegroups=sorted({g.label for g in planned}), workloads=[w.to_json() for w in ws if w.kind != "Pod"],
            pdbs=views, fix=fix)


@rule("pdb-blocks-drain", Severity.ERROR, "PodDisruptionBudget that will stall the drain of rotating nodes",
      needs=("Node", "Pod", "PodDisruptionBudget"), options=("target-version", "rotating"))
def pdb_blocks_drain(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports each PodDisruptionBudget that selects Pods on nodes the rotation plan replaces and allows
    no disruption: `maxUnavailable: 0` (or `0%`), `minAvailable` equal to or above its expected Pods
    (or `100%`), or, right now, `status.disruptionsAllowed: 0` while some of its Pods are healthy. One
    finding per PDB, naming the Pods, nodes and node groups it will hold up and its numbers
    (expected, desired and current healthy, disruptions allowed).

    Only Pods the Eviction API would refuse count: Running and Ready ones; Running ones that are not
    Ready too, unless `unhealthyPodEvictionPolicy: AlwaysAllow` lets them go, or the default
    `IfHealthyBudget` does because the budget is not disrupted (`currentHealthy` at least
    `desiredHealthy`); Pending Pods are always evictable. Not counted either: DaemonSet Pods and static
    Pods (hostNetwork system Pods of `kube-system` that a DaemonSet owns included), which a drain does
    not evict; Pods already terminating or finished; Pods on Fargate, never on rotating nodes.
    Services play no part here (`publishNotReadyAddresses` and the `default/kubernetes` Service do not
    matter). A PDB with no Pod on rotating nodes does not fire. Needs PodDisruptionBudgets in the state
    and a rotation plan.

    ## Why it matters
    Every drain goes through the Eviction API, which refuses to evict a Pod its PDB protects. The EKS
    managed node group update retries for 15 minutes per node, then fails the update with
    `PodEvictionFailure` (a forced update ignores PDBs and evicts anyway); Karpenter's termination
    respects PDBs and leaves the node draining indefinitely, holding the old node and its replacement;
    `kubectl drain` retries until its `--timeout`.

    ## Example
    PDB `payments/ledger` has `minAvailable: 2` for a Deployment of 2 replicas, both on `ng-blue`
    nodes: `disruptionsAllowed` is 0 and stays 0.

    ## How to fix
    Let the budget allow one disruption: `maxUnavailable: 1` instead of `minAvailable` equal to the
    replicas (`kubectl -n NS patch pdb NAME --type merge -p '{"spec":{"minAvailable":null,"maxUnavailable":1}}'`),
    or scale the workload one above `minAvailable` before the rotation. When `disruptionsAllowed` is 0
    because Pods are unhealthy, fix those Pods first.
    """
    plan = plan_for(ctx)
    idx = ctx.index
    for pdb in sorted(idx.of("PodDisruptionBudget"), key=lambda p: (p.namespace, p.name)):
        live = [p for p in pods_selected(idx, pdb) if not pod_terminal(p) and not pod_terminating(p)]
        b = budget(pdb, len(live))
        spec = pdb.spec
        # The Eviction API lets some Pods go whatever the budget: Pending ones always; Running ones that are not
        # Ready with AlwaysAllow, or with IfHealthyBudget (the default) while the PDB is not disrupted.
        policy = (spec.unhealthy_pod_eviction_policy if spec is not None else "") or "IfHealthyBudget"
        healthy = b.current_healthy if b.current_healthy is not None else sum(1 for p in live if pod_ready(p))
        unhealthy_held = policy != "AlwaysAllow" and (policy != "IfHealthyBudget" or healthy < b.desired_healthy)
        held = [(p, g) for p in live if not follows_node(p) and (g := plan.group_of(pod_node(p))) is not None
                and p.status is not None and p.status.phase == "Running" and (pod_ready(p) or unhealthy_held)]
        if not held:
            continue
        reason = ""
        if b.expected > 0 and b.desired_healthy >= b.expected:
            if spec is not None and spec.max_unavailable is not None:
                reason = f"{b.spec}: no Pod may be evicted"
            else:
                reason = f"{b.spec} keeps all {b.expected} expected Pods"
        elif b.allowed_now == 0 and (b.current_healthy or 0) > 0:
            reason = (f"status.disruptionsAllowed is 0 ({b.current_healthy} healthy, {b.desired_healthy} "
                      f"required)")
        if not reason:
            continue
        groups: list[PlanGroup] = sorted({g for _, g in held}, key=lambda g: (g.kind, g.name))
        ws = workloads_of(idx, [p for p, _ in held])
        fix = [fixcmd.kubectl_yaml("pdb", pdb.name, pdb.namespace)]
        if b.allowed_now == 0 and b.desired_healthy < b.expected:
            sel = label_selector(pdb)
            if sel is not None and sel.match_labels and not sel.match_expressions:
                fix.append(fixcmd.pods_by_selector(pdb.namespace, sel.match_labels))
        else:
            fix.append(fixcmd.patch_merge("pdb", pdb.name, pdb.namespace,
                                          {"spec": {"minAvailable": None, "maxUnavailable": 1}}))
            if spec is not None and spec.min_available is not None:
                fix += scale_fix(ws, b.desired_healthy + 1)
        nodes = names(pod_node(p) for p, _ in held)
        yield ctx.finding(
            ref_of(pdb), f"{reason}; {len(held)} of its Pods {'runs' if len(held) == 1 else 'run'} on rotating "
            f"nodes ({groups_text(groups)}: "
            f"{', '.join(nodes[:3])}{' …' if len(nodes) > 3 else ''}): {drain_consequence(groups)}",
            budget=b.to_json(), unhealthyPodEvictionPolicy=(spec.unhealthy_pod_eviction_policy or None)
            if spec is not None else None,
            pods=names(f"{p.namespace}/{p.name}" for p, _ in held), nodes=nodes,
            services=names(sid for p, _ in held for sid in services_of_pod(idx, p)),
            nodegroups=[g.label for g in groups], workloads=[w.to_json() for w in ws if w.kind != "Pod"], fix=fix)


@rule("endpoints-without-readiness-probe", Severity.WARNING,
      "Pods behind a Service on rotating nodes without a readiness probe", needs=_SERVICE_KINDS,
      options=("target-version", "rotating"))
def endpoints_without_readiness_probe(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each Service, looks at the Pods behind its ready endpoints that run on nodes the rotation plan
    replaces, and reports those none of whose containers (sidecars, restartable init containers,
    included) declares a `readinessProbe` or a `startupProbe`. One finding per Service, listing the
    workloads and Pods.

    A `startupProbe` alone counts: the container is not Ready until it passes, which is what matters
    for a Pod starting on a new node (it does not gate readiness afterwards; a readiness probe does).
    Not counted: Services with `publishNotReadyAddresses` (their endpoints are published ready whatever
    the probes say, so a probe would change nothing); DaemonSet Pods and static Pods (hostNetwork system
    Pods of `kube-system` that a DaemonSet owns included), which a drain does not move; Fargate Pods,
    never on rotating nodes; the `default/kubernetes` Service.

    ## Why it matters
    A container without a readiness probe is Ready as soon as it has started. When the drain moves the
    Pod, its replacement's endpoint turns ready on the new node before the application listens or has
    warmed up, and a PodDisruptionBudget counts it as healthy, so the drain moves on to the next Pod:
    clients get connection errors although the Service never showed zero endpoints.

    ## Example
    Deployment `shop/recommendations` (2 Pods on `ng-blue` nodes) has a liveness probe and no readiness
    probe.

    ## How to fix
    Add a readiness probe that checks the application itself (an HTTP health endpoint is best; a TCP
    check on the served port is the least), for example with `kubectl patch` on the workload's Pod
    template. See the Kubernetes guide on probes.
    """
    plan = plan_for(ctx)
    idx = ctx.index
    for b in services(idx):
        svc = b.service
        if publishes_not_ready(svc):
            continue
        risky: list[tuple[Backend, PlanGroup]] = []
        for x in b.pods:
            g = rotating(plan, x)
            if x.movable and g is not None and not readiness_checked(x.pod):
                risky.append((x, g))
        if not risky:
            continue
        ws = workloads_of(idx, [x.pod for x, _ in risky])
        fix: list[str] = []
        for w in ws:
            first = next(x.pod for x, _ in risky if workload_of(idx, x.pod) == w)
            fix += readiness_probe_fix(idx, svc, w, first)
        groups = [g for _, g in risky]
        behind = workload_text(ws)
        yield ctx.finding(
            ref_of(svc), f"{_share(len(risky), len(b.pods))} on rotating nodes "
            f"({groups_text(groups)}) {'declares' if len(risky) == 1 else 'declare'} no readiness probe"
            + (f" ({behind})" if behind else "") + ": the replacements turn ready as soon as the container starts",
            pods=names(x.name for x, _ in risky), nodes=names(x.node for x, _ in risky),
            nodegroups=sorted({g.label for g in groups}), workloads=[w.to_json() for w in ws if w.kind != "Pod"],
            probeDocs=PROBE_DOCS, fix=fix)


def _share(part: int, whole: int) -> str:
    """'its only ready Pod', 'all 3 of its ready Pods', '2 of its 3 ready Pods'."""
    if whole == 1:
        return "its only ready Pod"
    if part == whole:
        return f"all {whole} of its ready Pods"
    return f"{part} of its {plural(whole, 'ready Pod')}"


@rule("service-single-zone", Severity.INFO, "Service whose ready endpoints are all in one zone", needs=_SERVICE_KINDS)
def service_single_zone(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports each Service whose ready endpoints belong to at least two distinct Pods that are all in the
    same availability zone (the slice endpoint's `zone`, else the Node's `topology.kubernetes.io/zone`
    label), in a cluster whose Nodes span more than one zone. It needs no rotation plan. A Service with
    an endpoint of unknown zone, or whose Pod is not in the state, is not judged.

    Not counted: Services backed only by DaemonSet or static Pods (hostNetwork system Pods of
    `kube-system` included): they follow the nodes, and spreading them means spreading nodes; the
    `default/kubernetes` Service. Fargate Pods count with their Fargate node's zone. Services with
    `publishNotReadyAddresses` are judged on what they publish, which is what clients reach.

    ## Why it matters
    A node rotation replaces nodes zone by zone (the EKS managed node group update launches new nodes in
    the same zones and drains old ones in random order), and a zone can fail on its own: with every
    replica in one zone, one zone's trouble takes the whole Service down, and the scheduler may put
    every replacement back into the same zone.

    ## Example
    `payments/fraud-check` has 4 ready Pods, all in `eu-west-1a`, while the cluster's nodes span
    `eu-west-1a` and `eu-west-1b`.

    ## How to fix
    Add a `topologySpreadConstraints` entry on `topology.kubernetes.io/zone` to the workload's Pod
    template (`maxSkew: 1`, `whenUnsatisfiable: ScheduleAnyway`), then let it roll out.
    """
    idx = ctx.index
    cluster_zones = {n.labels.get(LABEL_ZONE) for n in idx.nodes.values() if not is_fargate(n)} - {None, ""}
    if len(cluster_zones) < 2:
        return
    for svc in candidates(idx):
        if one_zone(idx, svc) is None:  # most Services: decided from the ready endpoints alone
            continue
        b = backends(idx, svc)
        if len(b.pods) < 2 or b.unknown or all(follows_node(x.pod) for x in b.pods):
            continue
        zones = {x.zone for x in b.pods}  # the Pods' own nodes (an endpoint's nodeName may lag)
        if len(zones) != 1 or "" in zones:
            continue
        zone = next(iter(zones))
        ws = workloads_of(idx, [x.pod for x in b.pods])
        fix = [f for w in ws for f in spread_fix(w)]
        behind = workload_text(ws)
        yield ctx.finding(
            ref_of(svc), f"all {len(b.pods)} ready Pods are in zone {zone}" + (f" ({behind})" if behind else "")
            + f"; the cluster's nodes span {len(cluster_zones)} zones",
            zone=zone, clusterZones=sorted(cluster_zones), readyPods=len(b.pods),
            pods=names(x.name for x in b.pods), workloads=[w.to_json() for w in ws if w.kind != "Pod"], fix=fix)


ROTATION_RULES = (service_single_replica, service_rotation_unprotected, pdb_blocks_drain,
                  endpoints_without_readiness_probe, service_single_zone)
