"""AWS load balancer facts: which Ingress is an ALB, which targets are Pod IPs, the target group's deregistration
delay, the controller's readiness gate, and how a Pod stops (grace period, preStop hook). Pure.

As the AWS Load Balancer Controller documents them: an Ingress is an ALB when its IngressClass names the
controller `ingress.k8s.aws/alb` or it carries the older `kubernetes.io/ingress.class: alb`; its targets are
instances unless `alb.ingress.kubernetes.io/target-type: ip` (on the Ingress, or on the Service, which wins); an
NLB's are Pod IPs with `service.beta.kubernetes.io/aws-load-balancer-nlb-target-type: ip` (or the older
`aws-load-balancer-type: nlb-ip`); target group attributes are `key=value` pairs, comma-separated, and the ELB
deregistration delay defaults to 300 s; a Pod's `terminationGracePeriodSeconds` defaults to 30.
"""
from __future__ import annotations

from typing import NamedTuple

from auditor.state.labels import (
    ALB_CONTROLLER,
    ANN_ALB_TARGET_TYPE,
    ANN_ALB_TG_ATTRIBUTES,
    ANN_INGRESS_CLASS,
    ANN_LB_TYPE,
    ANN_NLB_TARGET_TYPE,
    ANN_NLB_TG_ATTRIBUTES,
    ATTR_DEREGISTRATION_DELAY,
    READINESS_GATE_PREFIX,
)
from auditor.state.objects import Container, KubeObject

DEFAULT_DEREGISTRATION_DELAY = 300
DEFAULT_GRACE_SECONDS = 30
#: preStop handlers that hold a stopping container: the kubelet runs no `tcpSocket` hook
HOLDING_HOOKS = ("sleep", "exec", "httpGet")


def is_alb_ingress(ing: KubeObject, ingress_class: KubeObject | None) -> bool:
    """The AWS Load Balancer Controller serves this Ingress as an ALB. `ingress_class` is the IngressClass its
    `spec.ingressClassName` names (None when it names none, or none exists); the annotation wins when set."""
    legacy = ing.annotations.get(ANN_INGRESS_CLASS)
    if legacy is not None:
        return legacy.strip() == "alb"
    return ingress_class is not None and ingress_class.spec is not None \
        and ingress_class.spec.controller == ALB_CONTROLLER


def alb_target_type(ing: KubeObject, svc: KubeObject | None) -> str:
    """`ip` or `instance` (the controller's default); the Service's annotation overrides the Ingress's."""
    for obj in (svc, ing):
        value = obj.annotations.get(ANN_ALB_TARGET_TYPE, "").strip() if obj is not None else ""
        if value:
            return value
    return "instance"


def nlb_ip_targets(svc: KubeObject) -> bool:
    """A LoadBalancer Service whose NLB targets are its Pods' IPs."""
    if svc.spec is None or svc.spec.type != "LoadBalancer":
        return False
    ann = svc.annotations
    return ann.get(ANN_NLB_TARGET_TYPE, "").strip() == "ip" or ann.get(ANN_LB_TYPE, "").strip() == "nlb-ip"


def target_group_attributes(obj: KubeObject, annotation: str) -> dict[str, str]:
    """`a=b,c=d` in the annotation as a map (blank and malformed entries skipped)."""
    out: dict[str, str] = {}
    for part in obj.annotations.get(annotation, "").split(","):
        key, eq, value = part.partition("=")
        if eq and key.strip():
            out[key.strip()] = value.strip()
    return out


class Delay(NamedTuple):
    seconds: int
    #: where it was read: `Service ns/name`, `Ingress ns/name`, or `default`
    source: str
    #: the annotation that sets it there ("" for the default)
    annotation: str = ""


def deregistration_delay(svc: KubeObject, ing: KubeObject | None = None) -> Delay:
    """The target group's deregistration delay for a Service's targets: the Service's own attributes (the ALB
    annotation when `ing` is an ALB Ingress, else the NLB's), then the Ingress's, then ELB's default."""
    candidates = [(svc, ANN_ALB_TG_ATTRIBUTES), (ing, ANN_ALB_TG_ATTRIBUTES)] if ing is not None \
        else [(svc, ANN_NLB_TG_ATTRIBUTES)]
    for obj, annotation in candidates:
        if obj is None:
            continue
        value = target_group_attributes(obj, annotation).get(ATTR_DEREGISTRATION_DELAY)
        if value is not None and value.isdigit():
            return Delay(int(value), f"{obj.kind} {obj.namespace}/{obj.name}", annotation)
    return Delay(DEFAULT_DEREGISTRATION_DELAY, "default")


def has_target_health_gate(pod: KubeObject) -> bool:
    """The Pod's spec carries the controller's readiness gate (`target-health.elbv2.k8s.aws/<binding>`): it
    turns Ready only once its target is healthy. Only the spec counts: the namespace label injects the gate
    into Pods created after it, never into running ones."""
    spec = pod.spec
    return spec is not None and any(g.condition_type.startswith(READINESS_GATE_PREFIX)
                                    for g in spec.readiness_gates or ())


def grace_seconds(pod: KubeObject) -> int:
    spec = pod.spec
    value = spec.termination_grace_period_seconds if spec is not None else None
    return DEFAULT_GRACE_SECONDS if value is None else value


def pre_stop(container: Container) -> str:
    """The kind of the container's preStop hook that holds it while the load balancer catches up (`sleep`,
    `exec`, `httpGet`); "" when it has none."""
    hook = container.lifecycle.pre_stop if container.lifecycle is not None else None
    if hook is None:
        return ""
    for kind, value in (("sleep", hook.sleep), ("exec", hook.exec), ("httpGet", hook.http_get)):
        if value is not None:
            return kind
    return ""
