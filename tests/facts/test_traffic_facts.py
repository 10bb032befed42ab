"""auditor.facts.lb, ingress, webhooks and rbac: the traffic-path facts, from objects shaped as the API serves
them (decoded as the collector does)."""
from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auditor.facts import ingress, lb, rbac, webhooks
from auditor.state.objects import KubeObject


def decode(raw: dict[str, Any]) -> KubeObject:
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def obj(kind: str, api_version: str, name: str = "web", ns: str | None = "shop",
        annotations: dict[str, str] | None = None, **top: Any) -> KubeObject:
    meta: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "resourceVersion": "71",
                            "creationTimestamp": "2026-11-01T08:00:00Z"}
    if ns is not None:
        meta["namespace"] = ns
    if annotations:
        meta["annotations"] = annotations
    return decode({"kind": kind, "apiVersion": api_version, "metadata": meta, **top})


def ing(annotations: dict[str, str] | None = None, **spec: Any) -> KubeObject:
    return obj("Ingress", "networking.k8s.io/v1", annotations=annotations, spec=spec)


def svc(annotations: dict[str, str] | None = None, **spec: Any) -> KubeObject:
    base = {"type": "ClusterIP", "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]}
    return obj("Service", "v1", annotations=annotations, spec={**base, **spec})


ALB_CLASS = obj("IngressClass", "networking.k8s.io/v1", "alb", None, spec={"controller": "ingress.k8s.aws/alb"})
NGINX_CLASS = obj("IngressClass", "networking.k8s.io/v1", "nginx", None, spec={"controller": "k8s.io/ingress-nginx"})


@pytest.mark.parametrize(("ingress_", "cls", "alb"), [
    pytest.param(ing(ingressClassName="alb"), ALB_CLASS, True, id="class naming the controller"),
    pytest.param(ing(ingressClassName="public"), ALB_CLASS, True, id="any class name: the controller decides"),
    pytest.param(ing(ingressClassName="nginx"), NGINX_CLASS, False, id="another controller's class"),
    pytest.param(ing(ingressClassName="alb"), None, False, id="a class that does not exist"),
    pytest.param(ing({"kubernetes.io/ingress.class": "alb"}), None, True, id="older annotation"),
    pytest.param(ing({"kubernetes.io/ingress.class": "nginx"}, ingressClassName="alb"), ALB_CLASS, False,
                 id="annotation wins over the field"),
])
def test_is_alb_ingress(ingress_: KubeObject, cls: KubeObject | None, alb: bool) -> None:
    assert lb.is_alb_ingress(ingress_, cls) is alb


@pytest.mark.parametrize(("ing_ann", "svc_ann", "want"), [
    pytest.param({}, {}, "instance", id="default instance"),
    pytest.param({"alb.ingress.kubernetes.io/target-type": "ip"}, {}, "ip", id="on the Ingress"),
    pytest.param({"alb.ingress.kubernetes.io/target-type": "ip"},
                 {"alb.ingress.kubernetes.io/target-type": "instance"}, "instance", id="the Service overrides"),
    pytest.param({}, {"alb.ingress.kubernetes.io/target-type": " ip "}, "ip", id="on the Service, spaces"),
])
def test_alb_target_type(ing_ann: dict[str, str], svc_ann: dict[str, str], want: str) -> None:
    assert lb.alb_target_type(ing(ing_ann), svc(svc_ann)) == want


@pytest.mark.parametrize(("service", "ip"), [
    pytest.param(svc({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}, type="LoadBalancer"),
                 True, id="nlb-target-type ip"),
    pytest.param(svc({"service.beta.kubernetes.io/aws-load-balancer-type": "nlb-ip"}, type="LoadBalancer"), True,
                 id="older nlb-ip type"),
    pytest.param(svc({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "instance"},
                     type="LoadBalancer"), False, id="instance"),
    pytest.param(svc({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}), False,
                 id="not a LoadBalancer Service"),
])
def test_nlb_ip_targets(service: KubeObject, ip: bool) -> None:
    assert lb.nlb_ip_targets(service) is ip


ALB_ATTRS = "alb.ingress.kubernetes.io/target-group-attributes"
NLB_ATTRS = "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"


@pytest.mark.parametrize(("service", "ingress_", "want"), [
    pytest.param(svc(), ing(), (300, "default"), id="ELB default"),
    pytest.param(svc(), ing({ALB_ATTRS: "stickiness.enabled=true, deregistration_delay.timeout_seconds=60"}),
                 (60, "Ingress shop/web"), id="from the Ingress, among others"),
    pytest.param(svc({ALB_ATTRS: "deregistration_delay.timeout_seconds=20"}),
                 ing({ALB_ATTRS: "deregistration_delay.timeout_seconds=60"}), (20, "Service shop/web"),
                 id="the Service's wins"),
    pytest.param(svc({ALB_ATTRS: "deregistration_delay.timeout_seconds=abc"}), ing(), (300, "default"),
                 id="not a number"),
    pytest.param(svc({NLB_ATTRS: "deregistration_delay.timeout_seconds=120"}), None, (120, "Service shop/web"),
                 id="NLB annotation"),
    pytest.param(svc({ALB_ATTRS: "deregistration_delay.timeout_seconds=120"}), None, (300, "default"),
                 id="an NLB does not read the ALB annotation"),
])
def test_deregistration_delay(service: KubeObject, ingress_: KubeObject | None, want: tuple[int, str]) -> None:
    d = lb.deregistration_delay(service, ingress_)
    assert (d.seconds, d.source) == want


def pod(spec: dict[str, Any]) -> KubeObject:
    return obj("Pod", "v1", "web-0", spec={"containers": [{"name": "app"}], **spec})


@pytest.mark.parametrize(("spec", "gate", "grace"), [
    pytest.param({}, False, 30, id="no gate, default grace"),
    pytest.param({"readinessGates": [{"conditionType": "target-health.elbv2.k8s.aws/k8s-shop-web-1a2b3c"}],
                  "terminationGracePeriodSeconds": 60}, True, 60, id="the controller's gate"),
    pytest.param({"readinessGates": [{"conditionType": "example.com/feature-ready"}],
                  "terminationGracePeriodSeconds": 0}, False, 0, id="another gate; grace 0 is 0"),
])
def test_gate_and_grace(spec: dict[str, Any], gate: bool, grace: int) -> None:
    p = pod(spec)
    assert lb.has_target_health_gate(p) is gate and lb.grace_seconds(p) == grace


@pytest.mark.parametrize(("lifecycle", "want"), [
    pytest.param(None, "", id="none"),
    pytest.param({"postStart": {"exec": {}}}, "", id="postStart only"),
    pytest.param({"preStop": {"sleep": {"seconds": 15}}}, "sleep", id="sleep action"),
    pytest.param({"preStop": {"exec": {}}}, "exec", id="exec (command dropped by the projection)"),
    pytest.param({"preStop": {"httpGet": {"path": "/drain", "port": 8080}}}, "httpGet", id="httpGet"),
    pytest.param({"preStop": {"tcpSocket": {"port": 8080}}}, "", id="tcpSocket: the kubelet does not run it"),
])
def test_pre_stop(lifecycle: dict[str, Any] | None, want: str) -> None:
    c = {"name": "app", **({"lifecycle": lifecycle} if lifecycle else {})}
    p = obj("Pod", "v1", "web-0", spec={"containers": [c]})
    assert p.spec is not None and p.spec.containers is not None
    assert lb.pre_stop(p.spec.containers[0]) == want


def _uses(o: KubeObject) -> list[tuple[str, str, str, str]]:
    return [(u.namespace, u.service, u.port_text, u.where) for u in ingress.backends(o)]


def test_ingress_backends_skip_resources_and_alb_actions() -> None:
    o = ing(defaultBackend={"service": {"name": "fallback", "port": {"number": 8080}}},
            rules=[{"host": "shop.example.com", "http": {"paths": [
                {"path": "/api", "pathType": "Prefix",
                 "backend": {"service": {"name": "api", "port": {"name": "http"}}}},
                {"path": "/r", "pathType": "Exact",
                 "backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}}},
                {"path": "/static", "pathType": "Prefix",
                 "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "Bucket", "name": "static"}}}]}},
                   {"http": {"paths": [{"backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}])
    assert _uses(o) == [("shop", "fallback", "8080", "default backend"),
                        ("shop", "api", "http", "shop.example.com/api"), ("shop", "web", "80", "*/")]


def test_route_backends_default_to_services_in_the_route_namespace() -> None:
    r = obj("HTTPRoute", "gateway.networking.k8s.io/v1", "shop", spec={"hostnames": ["a.example.com"], "rules": [
        {"backendRefs": [{"name": "web", "port": 80}, {"group": "", "kind": "Service", "name": "api",
                                                        "namespace": "search", "port": 9090}]},
        {"backendRefs": [{"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "web-west"},
                         {"group": "core", "kind": "Service", "name": "legacy", "port": 8080}]}]})
    assert _uses(r) == [("shop", "web", "80", "a.example.com rule 1"),
                        ("search", "api", "9090", "a.example.com rule 1"),
                        ("shop", "legacy", "8080", "a.example.com rule 2")]


@pytest.mark.parametrize(("number", "name", "missing"), [
    pytest.param(80, "", False, id="the Service's port"),
    pytest.param(8080, "", True, id="the targetPort is not a Service port"),
    pytest.param(None, "http", False, id="by name"),
    pytest.param(None, "grpc", True, id="a name it lacks"),
    pytest.param(None, "", False, id="no port named: not judged"),
])
def test_missing_port(number: int | None, name: str, missing: bool) -> None:
    use = ingress.BackendUse("shop", "web", number, name, "/")
    assert ingress.missing_port(svc(), use) is missing


def hook(**fields: Any) -> Any:
    cfg = obj("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "policy", None,
              webhooks=[{"name": "v.example.com", "sideEffects": "None", "admissionReviewVersions": ["v1"], **fields}])
    assert cfg.webhooks is not None
    return cfg.webhooks[0]


@pytest.mark.parametrize(("fields", "policy", "service", "pods"), [
    pytest.param({"clientConfig": {"service": {"namespace": "ops", "name": "policy"}},
                  "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                             "resources": ["pods"]}]},
                 "Fail", "ops/policy", True, id="failurePolicy absent is Fail; Pod CREATE"),
    pytest.param({"failurePolicy": "Ignore", "clientConfig": {"url": "https://policy.example.com/v"},
                  "rules": [{"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]}]},
                 "Ignore", None, True, id="url webhook; wildcards match Pods"),
    pytest.param({"failurePolicy": "Fail", "clientConfig": {"service": {"namespace": "ops", "name": "policy"}},
                  "rules": [{"operations": ["UPDATE"], "apiGroups": [""], "apiVersions": ["v1"],
                             "resources": ["pods"]},
                            {"operations": ["CREATE"], "apiGroups": ["apps"], "apiVersions": ["v1"],
                             "resources": ["deployments"]}]},
                 "Fail", "ops/policy", False, id="Pod UPDATE and Deployment CREATE do not block new Pods"),
])
def test_webhooks(fields: dict[str, Any], policy: str, service: str | None, pods: bool) -> None:
    h = hook(**fields)
    ref = webhooks.service_of(h)
    assert webhooks.failure_policy(h) == policy
    assert (f"{ref.namespace}/{ref.name}" if ref is not None else None) == service
    assert webhooks.intercepts_pod_create(h) is pods


def role(rules: list[dict[str, Any]], name: str = "reader", **top: Any) -> KubeObject:
    return obj("ClusterRole", "rbac.authorization.k8s.io/v1", name, None, rules=rules, **top)


@pytest.mark.parametrize(("rules", "endpoints", "slices"), [
    pytest.param([{"apiGroups": [""], "resources": ["endpoints"], "verbs": ["get", "list", "watch", "update"]}],
                 ["get", "list", "watch"], [], id="endpoints only"),
    pytest.param([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], ["get", "list", "watch"],
                 ["get", "list", "watch"], id="wildcards grant both"),
    pytest.param([{"apiGroups": [""], "resources": ["endpointslices"], "verbs": ["list"]}], [], [],
                 id="endpointslices in the core group are not the real ones"),
    pytest.param([{"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list"]},
                  {"apiGroups": [""], "resources": ["endpoints"], "verbs": ["list"], "resourceNames": ["lock"]}],
                 [], ["list"], id="resourceNames rules are not counted"),
])
def test_read_verbs(rules: list[dict[str, Any]], endpoints: list[str], slices: list[str]) -> None:
    r = role(rules)
    assert rbac.sort_verbs(rbac.read_verbs(r, rbac.ENDPOINTS)) == endpoints
    assert rbac.sort_verbs(rbac.read_verbs(r, rbac.ENDPOINTSLICES)) == slices


def test_judged_roles() -> None:
    assert rbac.judged(role([]))
    assert not rbac.judged(role([], "system:controller:endpoint-controller"))
    assert not rbac.judged(role([], aggregationRule={"clusterRoleSelectors": [{"matchLabels": {"a": "b"}}]}))
