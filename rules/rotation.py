"""Single-state rules about the coming node rotation's drains: which Services will lose their endpoints while the
nodes the upgrade replaces are drained (the plan: `auditor.analysis.plan`), and which drains will stall on a
PodDisruptionBudget. Workload kinds (Deployments, ReplicaSets, StatefulSets) only refine messages and fixes.

`ROTATION_RULES` is the whole pre-rotation family, these and `auditor.rules.resilience` (probes and zones)."""
from __future__ import annotations

from typing import Any, Iterator

from auditor.rules.base import Context, rule
from auditor.rules.resilience import endpoints_without_readiness_probe, service_single_zone
from auditor.rules.rotationkit import (
    SERVICE_KINDS,
    Backend,
    Backends,
    drain_consequence,
    groups_text,
    names,
    pdb_selector,
    plan_for,
    plural,
    rotating,
    scale_fix,
    services,
    services_of_pod,
    workload_text,
    workloads_of,
)

from auditor.analysis.index import ref_of
from auditor.analysis.plan import PlanGroup, RotationPlan
from auditor.analysis.workloads import budget_of, pdbs_by_pod, pdbs_selecting, pods_selected
from auditor.facts import fixcmd
from auditor.facts.pods import pod_node, pod_ready, pod_terminal, pod_terminating
from auditor.facts.workloads import Budget, budget, follows_node
from auditor.model import Finding, Severity
from auditor.state.objects import KubeObject, label_selector


@rule("service-single-replica", Severity.WARNING, "Service served by one Pod on a rotating node",
      needs=SERVICE_KINDS, options=("target-version", "rotating"))
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
    for b in services(ctx.index):
        if len(b.pods) != 1 or b.unknown:
            continue
        only = b.pods[0]
        group = rotating(plan, only)
        if group is None or not only.movable:
            continue
        yield _single_replica_finding(ctx, b.service, only, group)


def _single_replica_finding(ctx: Context, svc: KubeObject, only: Backend, group: PlanGroup) -> Finding:
    """The Service's only ready Pod runs on a rotating node: what the drain does to it, by workload kind."""
    idx = ctx.index
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
    return ctx.finding(
        ref_of(svc), f"its {plural(len(only.addresses), 'ready endpoint')} "
        f"{'belongs' if len(only.addresses) == 1 else 'belong'} to one Pod, {only.pod.name}, on rotating node "
        f"{only.node} ({group.label}){wants}: {outcome}",
        pod=only.name, node=only.node, nodegroup=group.label, nodegroups=[group.label], groupKind=group.kind,
        planReason=group.reason,
        readyEndpoints=len(only.addresses), workload=w.to_json() if w.kind != "Pod" else None, fix=fix)


@rule("service-rotation-unprotected", Severity.ERROR,
      "Service whose endpoints all rotate without a protecting PodDisruptionBudget",
      needs=(*SERVICE_KINDS, "PodDisruptionBudget"), options=("target-version", "rotating"))
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
    by_pod = pdbs_by_pod(idx)
    for b in services(idx):
        if len(b.pods) < 2 or b.unknown:
            continue
        groups = [plan.group_of(x.node) for x in b.pods]
        if any(g is None for g in groups) or not all(x.movable for x in b.pods):
            continue
        pdbs: dict[tuple[str, str], KubeObject] = {}
        for x in b.pods:
            meta = x.pod.metadata
            for p in by_pod.get((meta.namespace, meta.name), ()):
                pdbs[(p.metadata.namespace, p.metadata.name)] = p
        budgets = [(pdb, budget_of(idx, pdb)) for pdb in pdbs.values()]
        if any(not budg.allows_losing_all for _, budg in budgets):
            continue  # some PDB keeps at least one Pod
        views = [{"name": pdb.name, **budg.to_json()} for pdb, budg in budgets]
        yield _unprotected_finding(ctx, b, [g for g in groups if g is not None], views)


def _unprotected_finding(ctx: Context, b: Backends, planned: list[PlanGroup], views: list[dict[str, Any]]) -> Finding:
    """Every ready Pod of the Service rotates and no PDB (`views`: those selecting them) keeps one."""
    idx = ctx.index
    svc = b.service
    count = len(b.pods)
    ws = workloads_of(idx, [x.pod for x in b.pods])
    where = f"all on rotating nodes ({groups_text(planned)})"
    if views:
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
    return ctx.finding(
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
        reason = _blocking_reason(pdb, b)  # most budgets allow a disruption: their Pods need no look
        held = _held_pods(pdb, b, live, plan) if reason else []
        if held:
            yield _blocks_drain_finding(ctx, pdb, b, held, reason)


def _held_pods(pdb: KubeObject, b: Budget, live: list[KubeObject], plan: RotationPlan,
               ) -> list[tuple[KubeObject, PlanGroup]]:
    """The PDB's Pods on rotating nodes that the Eviction API would refuse to evict, with their plan group."""
    spec = pdb.spec
    # The Eviction API lets some Pods go whatever the budget: Pending ones always; Running ones that are not
    # Ready with AlwaysAllow, or with IfHealthyBudget (the default) while the PDB is not disrupted.
    policy = (spec.unhealthy_pod_eviction_policy if spec is not None else "") or "IfHealthyBudget"
    healthy = b.current_healthy if b.current_healthy is not None else sum(1 for p in live if pod_ready(p))
    unhealthy_held = policy != "AlwaysAllow" and (policy != "IfHealthyBudget" or healthy < b.desired_healthy)
    return [(p, g) for p in live if not follows_node(p) and (g := plan.group_of(pod_node(p))) is not None
            and p.status is not None and p.status.phase == "Running" and (pod_ready(p) or unhealthy_held)]


def _blocking_reason(pdb: KubeObject, b: Budget) -> str:
    """Why the PDB allows no disruption ("" when it allows one): its spec, or right now its status."""
    spec = pdb.spec
    if b.expected > 0 and b.desired_healthy >= b.expected:
        if spec is not None and spec.max_unavailable is not None:
            return f"{b.spec}: no Pod may be evicted"
        return f"{b.spec} keeps all {b.expected} expected Pods"
    if b.allowed_now == 0 and (b.current_healthy or 0) > 0:
        return f"status.disruptionsAllowed is 0 ({b.current_healthy} healthy, {b.desired_healthy} required)"
    return ""


def _blocks_drain_finding(ctx: Context, pdb: KubeObject, b: Budget, held: list[tuple[KubeObject, PlanGroup]],
                          reason: str) -> Finding:
    idx = ctx.index
    spec = pdb.spec
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
    return ctx.finding(
        ref_of(pdb), f"{reason}; {len(held)} of its Pods {'runs' if len(held) == 1 else 'run'} on rotating "
        f"nodes ({groups_text(groups)}: "
        f"{', '.join(nodes[:3])}{' …' if len(nodes) > 3 else ''}): {drain_consequence(groups)}",
        budget=b.to_json(), unhealthyPodEvictionPolicy=(spec.unhealthy_pod_eviction_policy or None)
        if spec is not None else None,
        pods=names(f"{p.namespace}/{p.name}" for p, _ in held), nodes=nodes,
        services=names(sid for p, _ in held for sid in services_of_pod(idx, p)),
        nodegroups=[g.label for g in groups], workloads=[w.to_json() for w in ws if w.kind != "Pod"], fix=fix)


ROTATION_RULES = (service_single_replica, service_rotation_unprotected, pdb_blocks_drain,
                  endpoints_without_readiness_probe, service_single_zone)
