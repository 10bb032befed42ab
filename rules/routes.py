"""Single-state rules about what calls a Service from outside its own clients: Ingress and Gateway API route
backends that lead nowhere, and admission webhooks whose Service cannot answer (now, or once the rotation has
drained its Pods)."""
from __future__ import annotations

from typing import Any, Iterator

from auditor.rules.base import Context, RuleNotRun, rule
from auditor.rules.rotationkit import (
    SERVICE_KINDS,
    backends,
    groups_text,
    names,
    pdb_selector,
    plan_for,
    plural,
    rotating,
    workloads_of,
)

from auditor.analysis.desired import service_ready_endpoints
from auditor.analysis.index import ref_of
from auditor.analysis.plan import RotationPlan
from auditor.analysis.workloads import budget_of, pdbs_selecting
from auditor.facts import fixcmd
from auditor.facts import ingress as routes
from auditor.facts import webhooks as hooks
from auditor.facts.services import is_external_name
from auditor.model import Finding, Severity
from auditor.state.clusterstate import parse_time
from auditor.state.objects import KubeObject
from auditor.state.traffic import Webhook

WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")


def _present(ctx: Context, kinds: tuple[str, ...], what: str) -> None:
    if not any(ctx.index.has(k) for k in kinds):
        raise RuleNotRun(f"the state has no {what}")


@rule("ingress-backend-unavailable", Severity.ERROR, "Ingress or route backend without a ready Service",
      needs=("Service", "EndpointSlice"))
def ingress_backend_unavailable(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each Ingress, HTTPRoute and GRPCRoute, checks every Service backend: `spec.defaultBackend` and
    `spec.rules[].http.paths[].backend.service` of an Ingress (`port.number` is the Service's `port`,
    `port.name` a Service port's name), `spec.rules[].backendRefs` of kind Service of a route (in the
    route's namespace unless it names another, `port` the Service's port). Reports a backend whose
    Service does not exist, lacks the port, or has no ready endpoint as kube-proxy counts them. One
    finding per object and backend, listing where it is used. No rotation plan needed.

    Not judged: `resource` backends and backendRefs of another kind (not Services), ExternalName
    Services (no endpoints by design), the AWS Load Balancer Controller's action backends
    (`port.name: use-annotation`), Services created within the grace period (their endpoints are on
    the way). Needs Ingresses or Gateway API routes in the state.

    ## Why it matters
    The controller behind the Ingress or route answers 503 (or, for a missing Service, drops the
    backend) for every request that path receives: users are down although every Pod may be healthy.
    During a node rotation, a backend whose Pods have all been drained looks exactly like this.

    ## Example
    Ingress `shop/web` sends `shop.example.com/api` to Service `api` port 8080, but `shop/api` serves
    port 80 (8080 is its targetPort).

    ## How to fix
    Point the backend at an existing Service and one of its ports (the Service's `port`, not the
    container's), or bring the Service's Pods back to Ready: `kubectl describe` the Service and its
    Pods to see why none is.
    """
    _present(ctx, routes.ROUTE_KINDS, "Ingress, HTTPRoute or GRPCRoute")
    idx = ctx.index
    for kind in routes.ROUTE_KINDS:
        for obj in sorted(idx.of(kind), key=lambda o: (o.namespace, o.name)):
            grouped: dict[tuple[str, str, str], list[str]] = {}
            for use in routes.backends(obj):
                grouped.setdefault((use.namespace, use.service, use.port_text), []).append(use.where)
            for use in {(u.namespace, u.service, u.port_text): u for u in routes.backends(obj)}.values():
                problem = _backend_problem(ctx, use)
                if problem:
                    where = grouped[(use.namespace, use.service, use.port_text)]
                    yield _backend_finding(ctx, obj, use, problem, where)


def _backend_problem(ctx: Context, use: routes.BackendUse) -> str:
    svc = ctx.index.services.get((use.namespace, use.service))
    if svc is None:
        return "no such Service"
    if is_external_name(svc):
        return ""
    if routes.missing_port(svc, use):
        ports = ", ".join(f"{p.port}" + (f" ({p.name})" if p.name else "") for p in svc.spec.ports or ()) \
            if svc.spec is not None else ""
        return f"the Service has no port {use.port_text}" + (f" (it serves {ports})" if ports else "")
    if service_ready_endpoints(ctx.index, use.namespace, use.service):
        return ""
    if ctx.recent(parse_time(svc.metadata.creation_timestamp)):
        return ""
    return "the Service has no ready endpoint"


def _backend_finding(ctx: Context, obj: KubeObject, use: routes.BackendUse, problem: str,
                     where: list[str]) -> Finding:
    target = f"{use.namespace}/{use.service}" + (f":{use.port_text}" if use.port_text else "")
    fix = [fixcmd.kubectl("get", "service", use.service, use.namespace, "-o", "wide")]
    if problem == "the Service has no ready endpoint":
        fix = [fixcmd.kubectl("describe", "service", use.service, use.namespace),
               fixcmd.slices_of_service(use.namespace, use.service, "wide")]
    return ctx.finding(
        ref_of(obj), f"backend {target} ({', '.join(where[:3])}{' ...' if len(where) > 3 else ''}): {problem}",
        key=target, service=f"{use.namespace}/{use.service}", port=use.port_text or None, problem=problem,
        paths=where[:20], fix=fix)


@rule("webhook-backend-at-risk", Severity.ERROR,
      "Admission webhook that fails closed and whose Service has no ready endpoint, now or during the rotation",
      needs=SERVICE_KINDS, options=("target-version", "rotating"))
def webhook_backend_at_risk(ctx: Context) -> Iterator[Finding]:
    """
    ## What it does
    For each Validating- and MutatingWebhookConfiguration, looks at its webhooks with `failurePolicy:
    Fail` (the `admissionregistration.k8s.io/v1` default when absent) that call a Service
    (`clientConfig.service`). Reports the Service when it does not exist or has no ready endpoint now;
    with a rotation plan, also when every one of its ready Pods is on a node the plan replaces and no
    PodDisruptionBudget keeps one of them up. One finding per configuration and Service, naming the
    webhooks and what they intercept.

    Not judged: `failurePolicy: Ignore` webhooks (a failed call is skipped), `url` webhooks (outside
    the cluster), DaemonSet and static Pods (a drain does not move them), Services created within the
    grace period. Needs Validating- or MutatingWebhookConfigurations in the state; without a rotation
    plan only the Service's state now is judged.

    ## Why it matters
    The API server refuses every request a `Fail` webhook's rules match while it cannot call the
    webhook. When the webhook's only Pods are drained, nothing they guard can be created or changed
    until a replacement runs, and when the webhook intercepts Pod creation, that replacement can not be
    created either: the drain deadlocks. The AWS Load Balancer Controller's own webhook, for example,
    intercepts Pods in labelled namespaces and Services.

    ## Example
    `aws-load-balancer-webhook` (MutatingWebhookConfiguration, `failurePolicy: Fail`, Pod CREATE) calls
    `kube-system/aws-load-balancer-webhook-service`, whose 2 Pods are both on `ng-blue` nodes, with no
    PodDisruptionBudget.

    ## How to fix
    Keep one webhook Pod up through the rotation: a PodDisruptionBudget with `maxUnavailable: 1` and at
    least two replicas spread over nodes that stay (or a topology spread); if the webhook is down now,
    fix its Pods first.
    """
    _present(ctx, WEBHOOK_KINDS, "ValidatingWebhookConfiguration or MutatingWebhookConfiguration")
    idx = ctx.index
    plan = plan_for(ctx, required=False)
    for kind in WEBHOOK_KINDS:
        for cfg in sorted(idx.of(kind), key=lambda o: o.name):
            per: dict[tuple[str, str], list[Webhook]] = {}
            for hook in cfg.webhooks or ():
                ref = hooks.service_of(hook)
                if ref is not None and hooks.failure_policy(hook) == hooks.FAIL:
                    per.setdefault((ref.namespace, ref.name), []).append(hook)
            for (ns, name), hs in per.items():
                found = _webhook_risk(ctx, cfg, ns, name, hs, plan if plan.decided else None)
                if found is not None:
                    yield found


def _webhook_risk(ctx: Context, cfg: KubeObject, ns: str, name: str, hs: list[Webhook],
                  plan: RotationPlan | None) -> Finding | None:
    idx = ctx.index
    svc = idx.services.get((ns, name))
    pods_create = any(hooks.intercepts_pod_create(h) for h in hs)
    what: dict[str, Any] = {"webhooks": [h.name for h in hs],
                            "intercepts": sorted({r for h in hs for r in hooks.intercepted(h)}),
                            "service": f"{ns}/{name}", "interceptsPodCreate": pods_create}
    consequence = ("; it intercepts Pod creation: replacement Pods cannot be created and the drain deadlocks"
                   if pods_create else "")
    if svc is not None and ctx.recent(parse_time(svc.metadata.creation_timestamp)):
        return None
    if svc is None or not service_ready_endpoints(idx, ns, name):
        why = "does not exist" if svc is None else "has no ready endpoint"
        calls = "calls" if len(hs) == 1 else "call"
        return ctx.finding(
            ref_of(cfg), f"{plural(len(hs), 'webhook')} with failurePolicy Fail {calls} Service {ns}/{name}, "
            f"which {why} now: the API server refuses what {'it matches' if len(hs) == 1 else 'they match'}"
            + consequence, key=f"{ns}/{name}", now=True, **what,
            fix=[fixcmd.kubectl("describe", "service", name, ns), fixcmd.slices_of_service(ns, name, "wide")])
    if plan is None:
        return None
    b = backends(idx, svc)
    groups = [rotating(plan, x) for x in b.pods]
    if not b.pods or b.unknown or any(g is None for g in groups) or not all(x.movable for x in b.pods):
        return None
    pdbs = {(p.namespace, p.name): p for x in b.pods for p in pdbs_selecting(idx, x.pod)}
    if any(not budget_of(idx, pdb).allows_losing_all for pdb in pdbs.values()):
        return None
    planned = [g for g in groups if g is not None]
    ws = workloads_of(idx, [x.pod for x in b.pods])
    sel = pdb_selector(idx, svc, ws)
    fix = [fixcmd.create_pdb(f"{ws[0].name if len(ws) == 1 else name}-pdb", ns, sel)] if sel else []
    fix += [fixcmd.scale(w.kind, w.name, w.namespace, 2) for w in ws if w.scalable and (w.replicas or 0) < 2]
    one = len(hs) == 1
    return ctx.finding(
        ref_of(cfg), f"{plural(len(hs), 'webhook')} with failurePolicy Fail {'calls' if one else 'call'} Service "
        f"{ns}/{name}, whose {plural(len(b.pods), 'ready Pod')} {'is' if len(b.pods) == 1 else 'are all'} on "
        f"rotating nodes ({groups_text(planned)}) with no PodDisruptionBudget keeping one up: the API server will "
        f"refuse what {'it matches' if one else 'they match'} once the drain has evicted them" + consequence,
        key=f"{ns}/{name}", now=False, **what, pods=names(x.name for x in b.pods),
        nodes=names(x.node for x in b.pods), nodegroups=sorted({g.label for g in planned}),
        workloads=[w.to_json() for w in ws if w.kind != "Pod"], fix=fix)
