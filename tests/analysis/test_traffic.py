"""How traffic reaches a Service (auditor.analysis.traffic): Ingress hosts and paths with the ALB in front and its
target type, Gateway API routes, LoadBalancer Services, TargetGroupBindings and admission webhooks, from API-shaped
objects; what is not a Service backend is left out."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
import pytest
from builders import state_from

from auditor.analysis import traffic
from auditor.analysis.index import ClusterIndex
from auditor.state.labels import (
    ALB_CONTROLLER,
    ANN_ALB_TARGET_TYPE,
    ANN_INGRESS_CLASS,
    ANN_LB_TYPE,
    ANN_NLB_TARGET_TYPE,
)

Obj = dict[str, Any]
T = b.at("2026-11-20T10:00:00Z")
OLD = T - timedelta(days=3)
ARN = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/k8s-shop-web-5e1f2a3b4c/0123456789abcdef"


def _meta(name: str, ns: str | None, annotations: dict[str, str] | None = None) -> Obj:
    return b.meta(name, ns, OLD, annotations=annotations)


def ingress(name: str, *, cls: str | None = "alb", annotations: dict[str, str] | None = None,
            rules: list[Obj] | None = None, default: Obj | None = None) -> Obj:
    spec: Obj = {"rules": rules if rules is not None else [
        {"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}},
            {"path": "/cart", "pathType": "Prefix", "backend": {"service": {"name": "cart", "port": {"name": "http"}}}},
            {"path": "/promo", "pathType": "Exact",
             "backend": {"service": {"name": "ssl-redirect", "port": {"name": "use-annotation"}}}},
            {"path": "/static", "pathType": "Prefix",
             "backend": {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "assets"}}},
        ]}}]}
    if cls is not None:
        spec["ingressClassName"] = cls
    if default is not None:
        spec["defaultBackend"] = default
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": _meta(name, "shop", annotations),
            "spec": spec}


def ingress_class(name: str, controller: str) -> Obj:
    return {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": _meta(name, None),
            "spec": {"controller": controller}}


def route(kind: str, name: str, refs: list[Obj], hostnames: list[str] | None = None) -> Obj:
    spec: Obj = {"parentRefs": [{"name": "public", "namespace": "gateways"}], "rules": [{"backendRefs": refs}]}
    if hostnames is not None:
        spec["hostnames"] = hostnames
    return {"kind": kind, "apiVersion": "gateway.networking.k8s.io/v1", "metadata": _meta(name, "shop"), "spec": spec}


def tgb(name: str, service: str, target_type: str = "ip") -> Obj:
    return {"kind": "TargetGroupBinding", "apiVersion": "elbv2.k8s.aws/v1beta1", "metadata": _meta(name, "shop"),
            "spec": {"serviceRef": {"name": service, "port": 80}, "targetGroupARN": ARN, "targetType": target_type}}


def webhook_config(kind: str, name: str, hooks: list[Obj]) -> Obj:
    return {"kind": kind, "apiVersion": "admissionregistration.k8s.io/v1", "metadata": _meta(name, None),
            "webhooks": hooks}


def index_of(*objects: Obj) -> ClusterIndex:
    return ClusterIndex(state_from({"takenAt": b.ts(T), "objects": list(objects)}))


def svc(name: str, **kw: Any) -> Obj:
    return b.service(name, "shop", OLD, selector={"app": name}, **kw)


def test_an_alb_ingress_names_hosts_paths_ports_and_the_target_type_the_service_overrides() -> None:
    index = index_of(ingress_class("alb", ALB_CONTROLLER),
                     ingress("storefront", annotations={traffic.ANN_ALB_SCHEME: "internet-facing"}),
                     svc("web"), svc("cart", annotations={ANN_ALB_TARGET_TYPE: "ip"}))
    found = traffic.entries(index)
    assert set(found) == {("shop", "web"), ("shop", "cart")}  # not the ALB action, not the resource
    assert found[("shop", "web")] == [{
        "kind": "Ingress", "namespace": "shop", "name": "storefront", "port": "80", "routes": ["shop.example.com/"],
        "routeCount": 1, "class": "alb", "loadBalancer": "ALB", "controller": "aws-load-balancer-controller",
        "targetType": "instance", "scheme": "internet-facing"}]
    cart = found[("shop", "cart")][0]
    assert (cart["port"], cart["routes"], cart["targetType"], cart["scheme"]) == ("http", ["shop.example.com/cart"],
                                                                                   "ip", "internet-facing")


@pytest.mark.parametrize(("objects", "alb"), [
    ([ingress("i", cls=None, annotations={ANN_INGRESS_CLASS: "alb"})], True),
    ([ingress_class("alb", ALB_CONTROLLER), ingress("i", cls="alb")], True),
    ([ingress_class("nginx", "k8s.io/ingress-nginx"), ingress("i", cls="nginx")], False),
    ([ingress("i", cls="alb")], False),  # no IngressClass in the state: nobody says it is the ALB's
    ([ingress_class("alb", ALB_CONTROLLER), ingress("i", annotations={ANN_INGRESS_CLASS: "nginx"})],
     False),  # the older annotation wins over the class
])
def test_which_ingress_is_an_alb(objects: list[Obj], alb: bool) -> None:
    entry = traffic.entries(index_of(*objects, svc("web")))[("shop", "web")][0]
    assert ("loadBalancer" in entry) is alb


def test_a_default_backend_and_many_paths_are_counted() -> None:
    paths = [{"path": f"/p{i}", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}
             for i in range(15)]
    index = index_of(ingress("i", rules=[{"http": {"paths": paths}}],
                             default={"service": {"name": "web", "port": {"number": 80}}}))
    entry = traffic.entries(index)[("shop", "web")][0]
    assert entry["routes"][:2] == ["default backend", "*/p0"]
    assert (len(entry["routes"]), entry["routeCount"]) == (traffic.ROUTES_SHOWN, 16)


def test_routes_name_their_service_backends_only_in_the_right_namespace() -> None:
    index = index_of(route("HTTPRoute", "web", [{"name": "web", "port": 80}, {"name": "web", "port": 8080},
                                                {"name": "api", "namespace": "backend", "port": 9000},
                                                {"group": "example.com", "kind": "Bucket", "name": "assets"}],
                           hostnames=["shop.example.com"]),
                     route("GRPCRoute", "rpc", [{"name": "rpc", "port": 50051}]))
    found = traffic.entries(index)
    assert set(found) == {("shop", "web"), ("backend", "api"), ("shop", "rpc")}
    assert found[("shop", "web")][0] == {"kind": "HTTPRoute", "namespace": "shop", "name": "web", "port": "80, 8080",
                                         "routes": ["shop.example.com rule 1"], "routeCount": 1}
    assert found[("shop", "rpc")][0]["routes"] == ["* rule 1"]


@pytest.mark.parametrize(("spec", "annotations", "expected"), [
    ({"loadBalancerClass": traffic.NLB_CLASS}, {ANN_NLB_TARGET_TYPE: "ip"}, ("NLB", "ip", "internal")),
    ({}, {ANN_LB_TYPE: "external", traffic.ANN_LB_SCHEME: "internet-facing"},
     ("NLB", "instance", "internet-facing")),
    ({}, {ANN_LB_TYPE: "nlb-ip"}, ("NLB", "ip", "internal")),
    ({}, {ANN_LB_TYPE: "nlb"}, ("NLB", "instance", "internet-facing")),
    ({}, {}, ("CLB", "instance", "internet-facing")),
    ({}, {traffic.ANN_LB_INTERNAL: "true"}, ("CLB", "instance", "internal")),
])
def test_load_balancer_services(spec: Obj, annotations: dict[str, str], expected: tuple[str, str, str]) -> None:
    raw = svc("edge", svc_type="LoadBalancer", annotations=annotations)
    raw["spec"].update(spec)
    lb = traffic.service_load_balancer(b.kube_object(raw))
    assert lb is not None and (lb["loadBalancer"], lb["targetType"], lb["scheme"]) == expected


def test_a_clusterip_service_has_no_load_balancer() -> None:
    assert traffic.service_load_balancer(b.kube_object(svc("web"))) is None
    assert traffic.entries(index_of(svc("web"))) == {}


def test_target_group_bindings_name_the_target_group_of_their_service() -> None:
    index = index_of(tgb("k8s-shop-web-5e1f2a3b4c", "web"),
                     {**tgb("broken", "web"), "spec": {"serviceRef": {"name": "web", "port": 80}}})
    assert traffic.target_groups(index) == {
        ("shop", "web"): [traffic.TargetGroup(ARN, "ip", "k8s-shop-web-5e1f2a3b4c", "80")]}
    assert traffic.entries(index)[("shop", "web")][0]["targetGroupARN"] == ARN


def test_webhooks_name_the_service_the_api_server_calls_with_their_failure_policy() -> None:
    hook = {"name": "mtargetgroupbinding.elbv2.k8s.aws", "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "clientConfig": {"service": {"namespace": "kube-system", "name": "aws-load-balancer-webhook-service",
                                         "path": "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding"}}}
    index = index_of(webhook_config("MutatingWebhookConfiguration", "aws-load-balancer-webhook",
                                    [hook, {**hook, "name": "mpod.elbv2.k8s.aws", "failurePolicy": "Ignore"}]),
                     webhook_config("ValidatingWebhookConfiguration", "by-url",
                                    [{"name": "v.example.com", "clientConfig": {"url": "https://hooks.example.com"}}]))
    found = traffic.entries(index)
    assert list(found) == [("kube-system", "aws-load-balancer-webhook-service")]
    assert found[("kube-system", "aws-load-balancer-webhook-service")] == [{
        "kind": "MutatingWebhookConfiguration", "namespace": "", "name": "aws-load-balancer-webhook",
        "webhooks": ["mtargetgroupbinding.elbv2.k8s.aws", "mpod.elbv2.k8s.aws"], "failurePolicy": "Fail, Ignore"}]


def test_the_view_keeps_what_before_said_for_a_service_after_no_longer_routes_to() -> None:
    before = index_of(ingress("storefront", cls=None, annotations={ANN_INGRESS_CLASS: "alb"}))
    after = index_of(svc("web"))
    assert traffic.traffic_view(after) is None
    view = traffic.traffic_view(after, before)
    assert view is not None
    assert [(s["namespace"], s["name"], s["userFacing"]) for s in view["services"]] == [
        ("shop", "cart", True), ("shop", "web", True)]
    assert view["services"][1]["entries"][0]["loadBalancer"] == "ALB"
