"""Single-state rules about how well a Service's Pods take being moved: readiness probes on the Pods the rotation
will move (their replacements must not turn ready before they serve), and zone spread (one zone's trouble must
not take a Service down)."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, rule
from auditor.rules.rotationkit import (
    PROBE_DOCS,
    SERVICE_KINDS,
    Backend,
    backends,
    candidates,
    groups_text,
    names,
    one_zone,
    plan_for,
    plural,
    readiness_checked,
    readiness_probe_fix,
    rotating,
    services,
    spread_fix,
    workload_text,
    workloads_of,
)

from auditor.analysis.index import ref_of
from auditor.analysis.plan import PlanGroup
from auditor.analysis.workloads import workload_of
from auditor.facts.nodes import is_fargate
from auditor.facts.services import publishes_not_ready
from auditor.facts.workloads import follows_node
from auditor.model import Finding, Severity
from auditor.state.labels import LABEL_ZONE


@rule("endpoints-without-readiness-probe", Severity.WARNING,
      "Pods behind a Service on rotating nodes without a readiness probe", needs=SERVICE_KINDS,
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


@rule("service-single-zone", Severity.INFO, "Service whose ready endpoints are all in one zone", needs=SERVICE_KINDS)
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
