"""How traffic reaches each Service: the Ingresses, Gateway API routes, load balancers, target group bindings and
admission webhooks that send requests to it, computed once per state for the reports, the ranking and `verify`.

Which Ingress is an ALB, its target type and the Service backends of Ingresses and routes are facts of
`auditor.facts.lb` and `auditor.facts.ingress`. Beside them, as the AWS Load Balancer Controller and the Kubernetes
API documentation state them:
- a LoadBalancer Service is the controller's NLB with `spec.loadBalancerClass: service.k8s.aws/nlb` or the
  annotation `service.beta.kubernetes.io/aws-load-balancer-type` `external` / `nlb-ip`; its targets are IPs as
  `facts.lb.nlb_ip_targets` says, instances otherwise; `nlb` alone is the in-tree cloud provider's NLB and no
  annotation at all its Classic Load Balancer, both with instance targets; the controller's scheme is
  `internal` unless `service.beta.kubernetes.io/aws-load-balancer-scheme` says otherwise, the in-tree one's
  `internet-facing` unless `service.beta.kubernetes.io/aws-load-balancer-internal` is set;
- for every target group it manages, the controller keeps a TargetGroupBinding (`spec.serviceRef`,
  `spec.targetGroupARN`, `spec.targetType`) in the Service's namespace: that is where the target group of a
  Service is named, whichever Ingress or Service asked for it;
- an admission webhook's `clientConfig.service` names the Service the API server calls (`failurePolicy`
  defaults to Fail in admissionregistration.k8s.io/v1).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from auditor.analysis.index import ClusterIndex
from auditor.facts import ingress as routes
from auditor.facts.lb import alb_target_type, is_alb_ingress, nlb_ip_targets
from auditor.state.labels import ANN_INGRESS_CLASS, ANN_LB_TYPE
from auditor.state.objects import KubeObject

Key = tuple[str, str]  # (namespace, name)

NLB_CLASS = "service.k8s.aws/nlb"
ANN_LB_SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
ANN_LB_INTERNAL = "service.beta.kubernetes.io/aws-load-balancer-internal"
ANN_ALB_SCHEME = "alb.ingress.kubernetes.io/scheme"
WEBHOOK_KINDS = ("ValidatingWebhookConfiguration", "MutatingWebhookConfiguration")
ROUTES_SHOWN = 10  # host/path pairs kept per entry; report.json says how many there were


@dataclass(frozen=True)
class TargetGroup:
    """A target group that sends a Service's traffic, as its TargetGroupBinding names it."""

    arn: str
    target_type: str  # ip | instance ("" when the binding does not say)
    binding: str  # the TargetGroupBinding's name, in the Service's namespace
    port: str = ""


def service_load_balancer(svc: KubeObject) -> dict[str, str] | None:
    """A LoadBalancer Service's load balancer: which one, who made it, its targets and scheme; None otherwise."""
    if svc.spec is None or svc.spec.type != "LoadBalancer":
        return None
    ann = svc.annotations
    lb_type = ann.get(ANN_LB_TYPE, "").strip()
    if svc.spec.load_balancer_class == NLB_CLASS or lb_type in ("external", "nlb-ip"):
        target = "ip" if nlb_ip_targets(svc) else "instance"
        scheme = ann.get(ANN_LB_SCHEME, "").strip() or "internal"
        return {"loadBalancer": "NLB", "controller": "aws-load-balancer-controller", "targetType": target,
                "scheme": scheme}
    if svc.spec.load_balancer_class:  # another implementation's class: not AWS's to say
        return {"loadBalancer": svc.spec.load_balancer_class, "controller": svc.spec.load_balancer_class,
                "targetType": "", "scheme": ""}
    internal = ann.get(ANN_LB_INTERNAL, "").strip().lower() in ("true", "0.0.0.0/0")
    return {"loadBalancer": "NLB" if lb_type == "nlb" else "CLB", "controller": "in-tree cloud provider",
            "targetType": "instance", "scheme": "internal" if internal else "internet-facing"}


def _port(port: Any) -> str:
    return "" if port is None else str(port)


def _route_entries(index: ClusterIndex, out: dict[Key, list[dict[str, Any]]]) -> None:
    """One entry per (Ingress or route, Service): where it routes from (host/path, or hostnames and rule) and the
    ports; an ALB Ingress adds its load balancer, target type and scheme."""
    classes = {c.name: c for c in index.of("IngressClass")}
    for kind in routes.ROUTE_KINDS:
        for obj in index.of(kind):
            per: dict[Key, tuple[list[str], list[str]]] = {}
            for use in routes.backends(obj):
                wheres, ports = per.setdefault((use.namespace, use.service), ([], []))
                if use.where not in wheres:  # two ports of one route rule are one way in
                    wheres.append(use.where)
                if use.port_text and use.port_text not in ports:
                    ports.append(use.port_text)
            cls = classes.get(obj.spec.ingress_class_name or "") if obj.spec is not None else None
            alb = kind == "Ingress" and is_alb_ingress(obj, cls)
            for key, (wheres, ports) in per.items():
                entry: dict[str, Any] = {"kind": kind, "namespace": obj.namespace, "name": obj.name,
                                         "port": ", ".join(ports), "routes": wheres[:ROUTES_SHOWN],
                                         "routeCount": len(wheres)}
                if kind == "Ingress":
                    entry["class"] = (obj.spec.ingress_class_name if obj.spec is not None else None) \
                        or obj.annotations.get(ANN_INGRESS_CLASS, "")
                if alb:
                    entry.update(loadBalancer="ALB", controller="aws-load-balancer-controller",
                                 targetType=alb_target_type(obj, index.services.get(key)),
                                 scheme=obj.annotations.get(ANN_ALB_SCHEME, "").strip() or "internal")
                out.setdefault(key, []).append(entry)


def target_groups(index: ClusterIndex) -> dict[Key, list[TargetGroup]]:
    """Per Service, the target groups its TargetGroupBindings name (the ARN from `spec`, where the controller
    and users write it)."""
    out: dict[Key, list[TargetGroup]] = {}
    for tgb in index.of("TargetGroupBinding"):
        spec = tgb.spec
        if spec is None or spec.service_ref is None or not spec.service_ref.name or not spec.target_group_arn:
            continue
        out.setdefault((tgb.namespace, spec.service_ref.name), []).append(
            TargetGroup(spec.target_group_arn, spec.target_type, tgb.name, _port(spec.service_ref.port)))
    return out


def _webhook_entries(index: ClusterIndex, out: dict[Key, list[dict[str, Any]]]) -> None:
    for kind in WEBHOOK_KINDS:
        for cfg in index.of(kind):
            per: dict[Key, list[tuple[str, str]]] = {}
            for hook in cfg.webhooks or ():
                svc = hook.client_config.service if hook.client_config is not None else None
                if svc is not None and svc.name:
                    per.setdefault((svc.namespace, svc.name), []).append((hook.name, hook.failure_policy or "Fail"))
            for key, hooks in per.items():
                policies = sorted({p for _, p in hooks})
                out.setdefault(key, []).append({"kind": kind, "namespace": "", "name": cfg.name,
                                                "webhooks": [h for h, _ in hooks][:ROUTES_SHOWN],
                                                "failurePolicy": ", ".join(policies)})


def entries(index: ClusterIndex) -> dict[Key, list[dict[str, Any]]]:
    """Every way traffic reaches each Service in this state, in a stable order (Ingress, routes, load
    balancer, target groups, webhooks). Computed once per index; callers must not change it."""
    hit: dict[Key, list[dict[str, Any]]] | None = index.cache.get("traffic-entries")
    if hit is not None:
        return hit
    out: dict[Key, list[dict[str, Any]]] = {}
    index.cache["traffic-entries"] = out
    _route_entries(index, out)
    for key, svc in index.services.items():
        lb = service_load_balancer(svc)
        if lb is not None:
            out.setdefault(key, []).append({"kind": "Service", "namespace": key[0], "name": key[1],
                                            "port": ", ".join(str(p.port) for p in svc.spec.ports or ())
                                            if svc.spec is not None else "", **lb})
    for key, groups in target_groups(index).items():
        for tg in groups:
            out.setdefault(key, []).append({"kind": "TargetGroupBinding", "namespace": key[0], "name": tg.binding,
                                            "port": tg.port, "targetType": tg.target_type,
                                            "targetGroupARN": tg.arn})
    _webhook_entries(index, out)
    return out


def traffic_view(index: ClusterIndex, before: ClusterIndex | None = None) -> dict[str, Any] | None:
    """report.json's `traffic`: per Service that anything routes to, its entry points and whether users depend
    on it (every entry point here is a path from outside the Service's own clients: an Ingress, a route, a load
    balancer or the API server's admission calls). With `before` (compare, verify), a Service AFTER no longer
    routes to keeps what BEFORE said, so a lost Service is still ranked by what depended on it. None when
    nothing routes to any Service (the state may lack the kinds)."""
    found = dict(entries(index))
    if before is not None:
        for key, items in entries(before).items():
            found.setdefault(key, items)
    if not found:
        return None
    services = [{"namespace": k[0], "name": k[1], "userFacing": True, "entries": found[k]} for k in sorted(found)]
    return {"services": services}
