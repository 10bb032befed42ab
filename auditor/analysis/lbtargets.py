"""Which Services' Pods are IP targets of an AWS load balancer, through what, and with which deregistration delay:
ALB Ingresses with `target-type: ip`, NLB Services with IP targets, TargetGroupBindings with `targetType: ip`.
Memoised per index; the predicates are `auditor.facts.lb`."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from auditor.facts import ingress as routes
from auditor.facts.lb import (
    DEFAULT_DEREGISTRATION_DELAY,
    Delay,
    alb_target_type,
    deregistration_delay,
    is_alb_ingress,
    nlb_ip_targets,
)

if TYPE_CHECKING:
    from auditor.analysis.index import ClusterIndex

Key = tuple[str, str]
#: what the load-balancer rules read besides the Services: ALB Ingresses are only known with their classes
LB_KINDS = ("Ingress", "IngressClass")


class IPTarget(NamedTuple):
    """One way a Service's Pods are registered by IP in a target group."""

    via: str  # "Ingress shop/web", "Service shop/web", "TargetGroupBinding shop/k8s-shop-web-0a1b2c"
    balancer: str  # ALB | NLB | TargetGroupBinding
    delay: Delay
    arn: str = ""  # a TargetGroupBinding's target group

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"via": self.via, "loadBalancer": self.balancer,
                                  "deregistrationDelay": self.delay.seconds, "delaySource": self.delay.source}
        if self.arn:
            out["targetGroupARN"] = self.arn
        return out


def _collect(index: ClusterIndex) -> dict[Key, list[IPTarget]]:
    out: dict[Key, list[IPTarget]] = {}
    classes = {c.name: c for c in index.of("IngressClass")}
    for ing in sorted(index.of("Ingress"), key=lambda o: (o.namespace, o.name)):
        cls = classes.get(ing.spec.ingress_class_name or "") if ing.spec is not None else None
        if not is_alb_ingress(ing, cls):
            continue
        for name in dict.fromkeys(u.service for u in routes.backends(ing)):
            svc = index.services.get((ing.namespace, name))
            if svc is not None and alb_target_type(ing, svc) == "ip":
                out.setdefault((ing.namespace, name), []).append(
                    IPTarget(f"Ingress {ing.namespace}/{ing.name}", "ALB", deregistration_delay(svc, ing)))
    for key, svc in sorted(index.services.items()):
        if nlb_ip_targets(svc):
            out.setdefault(key, []).append(IPTarget(f"Service {key[0]}/{key[1]}", "NLB", deregistration_delay(svc)))
    for tgb in sorted(index.of("TargetGroupBinding"), key=lambda o: (o.namespace, o.name)):
        spec = tgb.spec
        if spec is None or spec.target_type != "ip" or spec.service_ref is None or not spec.service_ref.name:
            continue
        key = (tgb.namespace, spec.service_ref.name)
        if key in index.services and not out.get(key):  # the controller's own binding of an ALB/NLB above
            default = Delay(DEFAULT_DEREGISTRATION_DELAY, "default")
            out.setdefault(key, []).append(IPTarget(f"TargetGroupBinding {tgb.namespace}/{tgb.name}",
                                                    "TargetGroupBinding", default, spec.target_group_arn))
    return out


def ip_targets(index: ClusterIndex) -> dict[Key, list[IPTarget]]:
    """Per Service (namespace, name), how its Pods are IP targets; Services that are none are absent."""
    hit: dict[Key, list[IPTarget]] | None = index.cache.get("lb-ip-targets")
    if hit is None:
        hit = index.cache["lb-ip-targets"] = _collect(index)
    return hit
