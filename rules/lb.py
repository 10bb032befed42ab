"""Single-state rules about AWS load balancers in front of Pods: IP targets without the controller's readiness gate
on rotating nodes, Pods that stop before their target group has drained them, and `externalTrafficPolicy: Local`
Services whose nodes rotate."""
from __future__ import annotations

from typing import Iterator

from auditor.rules.base import Context, rule
from auditor.rules.rotationkit import (
    SERVICE_KINDS,
    Backend,
    Backends,
    groups_text,
    names,
    plan_for,
    plural,
    rotating,
    services,
    workload_text,
    workloads_of,
)

from auditor.analysis.index import ClusterIndex, ref_of
from auditor.analysis.lbtargets import LB_KINDS, IPTarget, ip_targets
from auditor.analysis.plan import RotationPlan
from auditor.analysis.workloads import workload_of
from auditor.facts import fixcmd
from auditor.facts.lb import grace_seconds, has_target_health_gate, nlb_ip_targets, pre_stop, target_group_attributes
from auditor.facts.services import find_port
from auditor.model import Finding, Severity
from auditor.state.labels import (
    ANN_ALB_TG_ATTRIBUTES,
    ANN_NLB_TG_ATTRIBUTES,
    ATTR_DEREGISTRATION_DELAY,
    LABEL_EXCLUDE_FROM_LB,
    LABEL_READINESS_GATE_INJECT,
)
from auditor.state.objects import Container, KubeObject

PRE_STOP_SLEEP = 15  # seconds: longer than the load balancer takes to stop sending, well within a 30 s grace
GATE_DOCS = "https://kubernetes-sigs.github.io/aws-load-balancer-controller/latest/deploy/pod_readiness_gate/"


def via_text(targets: list[IPTarget]) -> str:
    return ", ".join(f"{t.balancer} via {t.via}" if t.balancer != "TargetGroupBinding" else t.via for t in targets)


@rule("lb-target-readiness-gate-missing", Severity.ERROR,
      "AWS load balancer IP targets on rotating nodes without the controller's readiness gate",
      needs=(*SERVICE_KINDS, *LB_KINDS), options=("target-version", "rotating"))
def lb_target_readiness_gate_missing(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each Service whose Pods are IP targets of an AWS load balancer, reports the ready Pods on nodes
    the rotation plan replaces whose spec carries no readiness gate with a `conditionType` starting with
    `target-health.elbv2.k8s.aws/`. IP targets are: the backends of an ALB Ingress (its IngressClass has
    `spec.controller: ingress.k8s.aws/alb`, or it carries `kubernetes.io/ingress.class: alb`) with
    `alb.ingress.kubernetes.io/target-type: ip` on the Ingress or the Service; a LoadBalancer Service
    with `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip`; a TargetGroupBinding with
    `targetType: ip` naming the Service. One finding per Service.

    Only the Pod's spec counts: the namespace label `elbv2.k8s.aws/pod-readiness-gate-inject: enabled`
    makes the controller's webhook add the gate to Pods created after it, so a running Pod without the
    gate is unprotected even in a labelled namespace. Not judged: instance targets (the load balancer
    sends to node ports, and kube-proxy follows the endpoints), DaemonSet and static Pods (a drain does
    not move them), Pods on nodes that stay. Needs Ingresses and IngressClasses in the state, and a
    rotation plan.

    ## Why it matters
    With IP targets the load balancer sends straight to Pod IPs. When a drain replaces a Pod, the new
    one turns Ready, the drain moves on, and the old one stops, while its replacement's target is
    still `initial` in the target group: requests find no healthy target and fail. The readiness gate
    holds the new Pod un-Ready until its target is healthy, so the PodDisruptionBudget and the rollout
    wait for the load balancer.

    ## Example
    Ingress `shop/web` (class `alb`, `target-type: ip`) sends to Service `shop/web`, whose 2 Pods on
    `ng-blue` nodes were created before the namespace was labelled.

    ## How to fix
    Label the namespace (`kubectl label namespace NS elbv2.k8s.aws/pod-readiness-gate-inject=enabled`),
    then recreate the Pods so the webhook adds the gate (`kubectl -n NS rollout restart deployment/NAME`)
    before the rotation starts.
    """
    plan = plan_for(ctx)
    idx = ctx.index
    targets = ip_targets(idx)
    if not targets:
        return
    for b in services(idx):
        svc = b.service
        via = targets.get((svc.namespace, svc.name))
        if not via:
            continue
        bare = [x for x in b.pods if x.movable and rotating(plan, x) is not None and not has_target_health_gate(x.pod)]
        if bare:
            yield _gate_finding(ctx, plan, b, bare, via)


def _gate_finding(ctx: Context, plan: RotationPlan, b: Backends, bare: list[Backend], via: list[IPTarget]) -> Finding:
    idx, svc = ctx.index, b.service
    ns = idx.namespaces.get(svc.namespace)
    labelled = ns is not None and ns.labels.get(LABEL_READINESS_GATE_INJECT) == "enabled"
    ws = workloads_of(idx, [x.pod for x in bare])
    fix = [] if labelled else [fixcmd.label("namespace", svc.namespace, LABEL_READINESS_GATE_INJECT, "enabled")]
    fix += [fixcmd.rollout_restart(w.kind, w.name, w.namespace) for w in ws if w.kind != "Pod"]
    groups = [g for x in bare if (g := rotating(plan, x)) is not None]
    label = ("its namespace is labelled for injection, but they were created before the label"
             if labelled else f"namespace {svc.namespace} is not labelled {LABEL_READINESS_GATE_INJECT}=enabled")
    behind = workload_text(ws)
    return ctx.finding(
        ref_of(svc), f"{plural(len(bare), 'ready Pod')} on rotating nodes ({groups_text(groups)}) "
        f"{'is an IP target' if len(bare) == 1 else 'are IP targets'} ({via_text(via)}) without the "
        f"target-health readiness gate ({label})" + (f"; {behind}" if behind else ""),
        loadBalancers=[t.to_json() for t in via], pods=names(x.name for x in bare),
        nodes=names(x.node for x in bare), nodegroups=sorted({g.label for g in groups}),
        namespaceLabelled=labelled, workloads=[w.to_json() for w in ws if w.kind != "Pod"],
        docs=GATE_DOCS, fix=fix)


def _serving(b: Backend, svc_ports: list[int]) -> list[tuple[int, Container]]:
    """The containers (index, container) that declare a port the Service sends to; all of them when none does
    (a numeric targetPort need not be declared)."""
    spec = b.pod.spec
    containers = list(enumerate(spec.containers or ())) if spec is not None else []
    hit = [(i, c) for i, c in containers if any(p.container_port in svc_ports for p in c.ports or ())]
    return hit or containers


def _svc_ports(svc: KubeObject, pod: KubeObject) -> list[int]:
    ports = svc.spec.ports if svc.spec is not None else None
    return [p for sp in ports or () if (p := find_port(pod, sp)) is not None]


def _delay_fix(svc: KubeObject, t: IPTarget, seconds: int) -> str:
    """Lower the target group's deregistration delay to what the Pods wait, where it is set (the Service's own
    annotation overrides the Ingress's)."""
    if t.balancer == "TargetGroupBinding":
        return fixcmd.target_group_attribute(t.arn, ATTR_DEREGISTRATION_DELAY, str(seconds))
    annotation = ANN_ALB_TG_ATTRIBUTES if t.balancer == "ALB" else ANN_NLB_TG_ATTRIBUTES
    attrs = target_group_attributes(svc, annotation)
    attrs[ATTR_DEREGISTRATION_DELAY] = str(seconds)
    return fixcmd.annotate("service", svc.name, svc.namespace, annotation,
                           ",".join(f"{k}={v}" for k, v in attrs.items()))


def _pre_stop_fix(idx: ClusterIndex, b: Backend, containers: list[tuple[int, Container]]) -> list[str]:
    w = workload_of(idx, b.pod)
    if not w.scalable or not containers:
        return []
    i, c = containers[0]
    hook = {"sleep": {"seconds": PRE_STOP_SLEEP}}
    base = f"/spec/template/spec/containers/{i}/lifecycle"
    op: dict[str, object] = ({"op": "add", "path": base + "/preStop", "value": hook} if c.lifecycle is not None
                             else {"op": "add", "path": base, "value": {"preStop": hook}})
    return [fixcmd.patch_json(w.kind, w.name, w.namespace, [op])]


@rule("lb-drain-shorter-than-deregistration", Severity.WARNING,
      "AWS load balancer IP targets that stop before their target group drains them",
      needs=(*SERVICE_KINDS, *LB_KINDS))
def lb_drain_shorter_than_deregistration(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each Service whose Pods are IP targets of an AWS load balancer (as in
    `lb-target-readiness-gate-missing`), reports its ready Pods whose `terminationGracePeriodSeconds`
    (default 30) is shorter than the target group's deregistration delay, or whose serving containers
    (those declaring a port the Service sends to) have no preStop hook that holds them (a `sleep` action,
    an `exec` command or an `httpGet`; the kubelet runs no `tcpSocket` hook). The delay is
    `deregistration_delay.timeout_seconds` in `alb.ingress.kubernetes.io/target-group-attributes` on the
    Service or the Ingress (the Service's wins) for an ALB, in
    `service.beta.kubernetes.io/aws-load-balancer-target-group-attributes` for an NLB, else ELB's
    default of 300 s; a TargetGroupBinding's target group is made outside the cluster and is assumed to
    keep the default. One finding per Service. It needs no rotation plan: every rollout stops Pods too.

    ## Why it matters
    When a Pod starts terminating, it leaves the endpoints and the controller deregisters its target,
    but the load balancer keeps sending requests for a few seconds more (NLBs have been seen to take
    minutes), and requests in flight have until the deregistration delay to finish. A Pod that exits
    first, because nothing holds it or its grace period runs out, cuts them: clients see 502s and
    resets during every drain of the rotation.

    ## Example
    Service `shop/web` is an ALB IP target with the default 300 s delay; its Pods keep the default 30 s
    grace period and have no preStop hook.

    ## How to fix
    Give the serving container a preStop hook that waits for the load balancer (a `sleep` of 10 to 30 s),
    and make the target group's deregistration delay no longer than the Pods' grace period (lower
    `deregistration_delay.timeout_seconds` in the target group attributes annotation, or raise
    `terminationGracePeriodSeconds`).
    """
    idx = ctx.index
    targets = ip_targets(idx)
    for b in services(idx) if targets else ():
        via = targets.get((b.service.namespace, b.service.name))
        if via:
            found = _drain_finding(ctx, b, via)
            if found is not None:
                yield found


def _drain_finding(ctx: Context, b: Backends, via: list[IPTarget]) -> Finding | None:
    idx, svc = ctx.index, b.service
    delay = max(t.delay.seconds for t in via)
    short = [x for x in b.pods if grace_seconds(x.pod) < delay]
    serving = [(x, _serving(x, _svc_ports(svc, x.pod))) for x in b.pods]
    bare = [(x, cs) for x, cs in serving if not any(pre_stop(c) for _, c in cs)]
    if not short and not bare:
        return None
    fix: list[str] = []
    parts = []
    if short:
        grace = min(grace_seconds(x.pod) for x in short)
        fix += [_delay_fix(svc, t, grace) for t in via if t.delay.seconds > grace]
        parts.append(f"{plural(len(short), 'Pod')} stop within {grace} s, before the {delay} s deregistration delay")
    seen: set[str] = set()
    for x, cs in bare:
        w = workload_of(idx, x.pod)
        if w.ref not in seen:
            seen.add(w.ref)
            fix += _pre_stop_fix(idx, x, cs)
    if bare:
        parts.append(f"{plural(len(bare), 'Pod')} {'has' if len(bare) == 1 else 'have'} no preStop hook")
    ws = workloads_of(idx, [x.pod for x in b.pods])
    return ctx.finding(
        ref_of(svc), f"IP target of {via_text(via)}: " + "; ".join(parts)
        + ": requests in flight are cut when old Pods stop" + (f" ({workload_text(ws)})" if ws else ""),
        loadBalancers=[t.to_json() for t in via], deregistrationDelay=delay,
        shortGracePods=names(x.name for x in short), gracePeriods=sorted({grace_seconds(x.pod) for x in short}),
        noPreStopPods=names(x.name for x, _ in bare), workloads=[w.to_json() for w in ws if w.kind != "Pod"],
        fix=fix)


@rule("external-traffic-local-rotation", Severity.WARNING,
      "externalTrafficPolicy: Local Service with ready endpoints on rotating nodes", needs=SERVICE_KINDS,
      options=("target-version", "rotating"))
def external_traffic_local_rotation(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    Reports each LoadBalancer or NodePort Service with `externalTrafficPolicy: Local` that has ready
    endpoints on nodes the rotation plan replaces, naming those nodes and Pods. Not judged: Services
    whose NLB targets are the Pods' IPs (the load balancer skips the nodes; see
    `lb-target-readiness-gate-missing`), DaemonSet and static Pods (a drain does not move them: the node
    leaves with them). Needs a rotation plan.

    ## Why it matters
    With `Local`, a node forwards the Service's external traffic only to Pods on that node, and the load
    balancer learns which nodes have one from the health check on `healthCheckNodePort`: kube-proxy
    answers 503 there once the node has no ready local endpoint. During a drain the load balancer keeps
    sending to the node until its health checks fail (interval times the unhealthy threshold), and those
    connections are dropped. EKS managed node group updates label nodes to leave load balancers, but
    that has been reported to land only after the drain.

    ## Example
    Service `shop/gateway` (type LoadBalancer, `externalTrafficPolicy: Local`) has its 2 ready Pods on
    `ng-blue` nodes.

    ## How to fix
    Take each node out of the load balancers before draining it
    (`kubectl label node NODE node.kubernetes.io/exclude-from-external-load-balancers=true`), wait for its
    targets to drain, then drain it; or shorten the load balancer's health check (interval and unhealthy
    threshold annotations) so it notices sooner.
    """
    plan = plan_for(ctx)
    idx = ctx.index
    for b in services(idx):
        spec = b.service.spec
        if spec is None or spec.type not in ("LoadBalancer", "NodePort") or spec.external_traffic_policy != "Local" \
                or nlb_ip_targets(b.service):
            continue
        moved = [(x, g) for x in b.pods if x.movable and (g := rotating(plan, x)) is not None]
        if not moved:
            continue
        nodes = names(x.node for x, _ in moved)
        groups = [g for _, g in moved]
        yield ctx.finding(
            ref_of(b.service), f"{spec.type} Service with externalTrafficPolicy Local: "
            f"{plural(len(moved), 'ready Pod')} on rotating nodes ({groups_text(groups)}); the load balancer keeps "
            f"sending to {plural(len(nodes), 'node')} until its health checks fail",
            type=spec.type, pods=names(x.name for x, _ in moved), nodes=nodes,
            nodegroups=sorted({g.label for g in groups}), readyPods=len(b.pods),
            fix=[fixcmd.label("node", n, LABEL_EXCLUDE_FROM_LB, "true") for n in nodes])
