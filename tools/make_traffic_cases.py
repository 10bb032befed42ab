"""Generate the case files of the traffic-path rules (tests/rules/cases/<rule>.yaml) from the API-shaped builders.

Run from the repo root: `python tools/make_traffic_cases.py`. The cluster is the rotation rules' (tools/
make_rotation_cases.py: ng-blue rotating against the target 1.31, ng-green staying), plus what routes to it:
IngressClasses, ALB and nginx Ingresses, Gateway API routes, a TargetGroupBinding, the AWS Load Balancer
Controller's webhook in kube-system, and monitoring roles.
"""
from __future__ import annotations

import copy
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import make_rotation_cases as rc  # noqa: E402
from make_rotation_cases import (  # noqa: E402
    BASE,
    CATALOG,
    CHECKOUT,
    DAYS,
    NB1,
    NB2,
    NG1,
    NO_PLAN,
    NODE_EXPORTER,
    QUERY_API,
    T,
    X,
    b,
    case,
    dpod,
    exp,
    named,
    state,
    svc,
)

Obj = dict[str, Any]
ALL_KINDS = ["Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice", "PodDisruptionBudget",
             "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"]
RBAC = ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]
WEBHOOKS = ["ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"]
ROUTES = ["Ingress", "IngressClass", "HTTPRoute", "GRPCRoute", "TargetGroupBinding"]


def kinds(*without: str) -> list[str]:
    return [k for k in ALL_KINDS + RBAC + WEBHOOKS + ROUTES + ["Gateway"] if k not in without]


def meta(name: str, ns: str | None, **kw: Any) -> Obj:
    return b.meta(name, ns, T - 10 * DAYS, **kw)


def ingress_class(name: str, controller: str) -> Obj:
    return {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
            "metadata": meta(name, None, labels={"app.kubernetes.io/name": name}), "spec": {"controller": controller}}


def backend(service: str, port: int | str) -> Obj:
    return {"service": {"name": service, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def ingress(name: str, ns: str, paths: list[tuple[str, Obj]], *, cls: str | None = "alb",
            annotations: dict[str, str] | None = None, default: Obj | None = None) -> Obj:
    spec: Obj = {}
    if cls:
        spec["ingressClassName"] = cls
    if default:
        spec["defaultBackend"] = default
    if paths:
        spec["rules"] = [{"host": "shop.example.com", "http": {"paths": [
            {"path": p, "pathType": "Prefix", "backend": be} for p, be in paths]}}]
    host = f"k8s-{ns}-{name}-0f5c2a1d9e-1234567890.eu-west-1.elb.amazonaws.com"
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": {**meta(name, ns, annotations=annotations), "generation": 1,
                         "finalizers": ["ingress.k8s.aws/resources"]},
            "spec": spec, "status": {"loadBalancer": {"ingress": [{"hostname": host}]}}}


def route(kind: str, name: str, ns: str, refs: list[Obj]) -> Obj:
    return {"kind": kind, "apiVersion": "gateway.networking.k8s.io/v1", "metadata": meta(name, ns),
            "spec": {"parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public",
                                     "namespace": "shop"}],
                     "hostnames": ["shop.example.com"], "rules": [{"backendRefs": refs}]}}


def tgb(name: str, ns: str, service: str, target_type: str) -> Obj:
    return {"kind": "TargetGroupBinding", "apiVersion": "elbv2.k8s.aws/v1beta1",
            "metadata": meta(name, ns, labels={"app.kubernetes.io/managed-by": "terraform"}),
            "spec": {"serviceRef": {"name": service, "port": 80}, "targetType": target_type,
                     "targetGroupARN": f"arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/{name}/"
                                       "6d0ecf831eec9f09", "ipAddressType": "ipv4"},
            "status": {"observedGeneration": 1}}


def variant(key: str, obj: Obj, **changes: Any) -> Obj:
    """A copy under a new anchor, with `changes` applied as {"path.to.field": value}."""
    out = copy.deepcopy(obj)
    for path, value in changes.items():
        *head, last = path.split(".")
        cur = out
        for part in head:
            cur = cur.setdefault(part, {})
        cur[last] = value
    return named(key, out)


def with_pod_changes(prefix: str, pods: list[Obj], fn: Any) -> list[Obj]:
    out = []
    for i, p in enumerate(pods):
        q = copy.deepcopy(p)
        fn(q)
        out.append(named(f"pod-{prefix}-{i + 1}", q))
    return out


def write(rule: str, header: str, cases: list[Obj]) -> None:
    used: dict[str, Obj] = {}
    for c in cases:
        for o in c["state"]["objects"]:
            for k, v in X.items():
                if v is o:
                    used[k] = v
    doc = {"rule": rule, "x-objects": {k: X[k] for k in X if k in used}, "cases": cases}
    text = yaml.dump(doc, Dumper=rc._Dumper, sort_keys=False, width=120, default_flow_style=False)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.strip().splitlines())
    path = ROOT / "tests" / "rules" / "cases" / f"{rule}.yaml"
    path.write_text("# Generated by tools/make_traffic_cases.py; edit that and run it again.\n" + comment + text)


HEADER = rc.EKS_HEADER + """
Traffic path: IngressClass alb (ingress.k8s.aws/alb) and nginx; Services shop/catalog (2 Pods on ng-blue) and
shop/checkout (1 on ng-blue, 1 on ng-green)."""

ALB = named("ingressclass-alb", ingress_class("alb", "ingress.k8s.aws/alb"))
NGINX = named("ingressclass-nginx", ingress_class("nginx", "k8s.io/ingress-nginx"))
IP = {"alb.ingress.kubernetes.io/target-type": "ip", "alb.ingress.kubernetes.io/scheme": "internet-facing"}
CAT_PODS = CATALOG[1:3]
CAT_SLICES = [o for o in CATALOG if o["kind"] == "EndpointSlice"]
CAT_REST = [o for o in CATALOG if o["kind"] not in ("Pod", "Service")]


def backend_unavailable() -> list[Obj]:
    orders = named("svc-orders", svc("orders", "shop", "172.20.30.21"))
    fresh = variant("svc-orders-fresh", orders, **{"metadata.creationTimestamp": b.ts(T - timedelta(seconds=30))})
    ext = named("svc-payments-ext", b.service("payments", "shop", T - 30 * DAYS, svc_type="ExternalName"))
    ok = named("ingress-web", ingress("web", "shop", [("/catalog", backend("catalog", 80)),
                                                      ("/checkout", backend("checkout", "http"))], annotations=IP))
    missing = named("ingress-web-missing", ingress("web", "shop", [("/cart", backend("cart", 80)),
                                                                   ("/cart/v2", backend("cart", 80))]))
    bad_port = named("ingress-web-port", ingress("web", "shop", [("/catalog", backend("catalog", 8080)),
                                                                 ("/grpc", backend("catalog", "grpc"))]))
    empty = named("ingress-web-empty", ingress("web", "shop", [], default=backend("orders", 80)))
    ext_ing = named("ingress-web-external", ingress("web", "shop", [("/pay", backend("payments", 443))]))
    action = named("ingress-web-action", ingress("web", "shop", [
        ("/legacy", backend("ssl-redirect", "use-annotation")),
        ("/static", {"resource": {"apiGroup": "k8s.example.com", "kind": "StorageBucket", "name": "static"}})],
        annotations={"alb.ingress.kubernetes.io/actions.ssl-redirect": '{"Type": "redirect"}'}))
    http = named("httproute-shop", route("HTTPRoute", "shop", "shop", [
        {"group": "", "kind": "Service", "name": "catalog", "port": 80, "weight": 90},
        {"name": "recommendations", "port": 80, "weight": 10}]))
    grpc = named("grpcroute-search", route("GRPCRoute", "search", "shop", [
        {"name": "query-api", "namespace": "search", "port": 9090}]))
    foreign = named("httproute-import", route("HTTPRoute", "imported", "shop", [
        {"group": "multicluster.x-k8s.io", "kind": "ServiceImport", "name": "catalog-west", "port": 80}]))
    return [
        case("an Ingress names a Service that does not exist (two paths, one finding)", state(BASE, ALB, missing), [
            exp("Ingress", "shop", "web", "error", "backend shop/cart:80 (shop.example.com/cart, "
                "shop.example.com/cart/v2): no such Service", service="shop/cart", port="80")], options=None),
        case("port by number and by name that the Service does not serve", state(BASE, CATALOG, ALB, bad_port), [
            exp("Ingress", "shop", "web", "error", "the Service has no port 8080 (it serves 80 (http))"),
            exp("Ingress", "shop", "web", "error", "the Service has no port grpc")], options=None),
        case("the default backend's Service has no ready endpoint", state(BASE, orders, ALB, empty), [
            exp("Ingress", "shop", "web", "error", "(default backend): the Service has no ready endpoint")],
            options=None),
        case("HTTPRoute: kind Service by default; one backend names no Service", state(BASE, CATALOG, http), [
            exp("HTTPRoute", "shop", "shop", "error", "backend shop/recommendations:80")], options=None),
        case("GRPCRoute: a cross-namespace backendRef, port the Service lacks", state(BASE, QUERY_API, grpc), [
            exp("GRPCRoute", "shop", "search", "error", "search/query-api:9090")], options=None),
        case("guard: backends by port number and by port name, both ready",
             state(BASE, CATALOG, CHECKOUT, ALB, ok), options=None),
        case("guard: an ExternalName Service has no endpoints by design", state(BASE, ext, ALB, ext_ing),
             options=None),
        case("guard: the ALB's use-annotation action and a resource backend are not Services",
             state(BASE, ALB, action), options=None),
        case("guard: a backendRef of another kind (ServiceImport)", state(BASE, foreign), options=None),
        case("guard: a Service created within the grace period", state(BASE, fresh, ALB, empty), options=None),
        case("not run: the state has no Ingress or route", state(BASE, CATALOG, kinds=kinds(*ROUTES)),
             options=None, not_run="the state has no Ingress, HTTPRoute or GRPCRoute"),
    ]


def _gate(p: Obj) -> None:
    p["spec"]["readinessGates"] = [{"conditionType": "target-health.elbv2.k8s.aws/k8s-shop-catalog-2f6a8c1b9d"}]
    p["status"]["conditions"].append({"type": "target-health.elbv2.k8s.aws/k8s-shop-catalog-2f6a8c1b9d",
                                      "status": "True", "lastTransitionTime": b.ts(T - 2 * DAYS)})


def readiness_gate() -> list[Obj]:
    web = named("ingress-web-catalog", ingress("web", "shop", [("/", backend("catalog", 80))], annotations=IP))
    inst = named("ingress-web-instance", ingress("web", "shop", [("/", backend("catalog", 80))]))
    nginx = named("ingress-web-nginx", ingress("web", "shop", [("/", backend("catalog", 80))], cls="nginx",
                                                annotations=IP))
    legacy = named("ingress-web-legacy", ingress("web", "shop", [("/", backend("catalog", 80))], cls=None,
                                                 annotations={"kubernetes.io/ingress.class": "alb"}))
    svc_ip = variant("svc-catalog-target-ip", X["svc-catalog"],
                     **{"metadata.annotations": {"alb.ingress.kubernetes.io/target-type": "ip"}})
    nlb = variant("svc-catalog-nlb-ip", X["svc-catalog"], **{
        "spec.type": "LoadBalancer", "spec.allocateLoadBalancerNodePorts": True,
        "spec.externalTrafficPolicy": "Cluster", "spec.loadBalancerClass": "service.k8s.aws/nlb",
        "metadata.annotations": {"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                                 "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}})
    binding = named("tgb-checkout", tgb("checkout-tg", "shop", "checkout", "ip"))
    gated = with_pod_changes("catalog-gated", CAT_PODS, _gate)
    labelled = variant("ns-shop-gate", X["ns-shop"], **{"metadata.labels": {
        "kubernetes.io/metadata.name": "shop", "elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}})
    base_lab = [labelled if o is X["ns-shop"] else o for o in BASE]
    return [
        case("ALB Ingress with target-type ip; 2 Pods on ng-blue without the gate; namespace not labelled",
             state(BASE, CATALOG, ALB, web), [
            exp("Service", "shop", "catalog", "error", "2 ready Pods on rotating nodes (ng-blue) are IP targets "
                "(ALB via Ingress shop/web)", namespaceLabelled=False, nodegroups=["ng-blue"])]),
        case("the namespace is labelled, but the running Pods were created before the label",
             state(base_lab, CATALOG, ALB, web), [
            exp("Service", "shop", "catalog", "error", "created before the label", namespaceLabelled=True)]),
        case("NLB Service with nlb-target-type ip", state(BASE, nlb, *CAT_PODS, *CAT_REST, ALB), [
            exp("Service", "shop", "catalog", "error", "NLB via Service shop/catalog")]),
        case("TargetGroupBinding with targetType ip: only the Pod on ng-blue", state(BASE, CHECKOUT, ALB, binding), [
            exp("Service", "shop", "checkout", "error", "1 ready Pod on rotating nodes (ng-blue) is an IP target "
                "(TargetGroupBinding shop/checkout-tg)")]),
        case("the older kubernetes.io/ingress.class annotation, target-type ip on the Service",
             state(BASE, svc_ip, *CAT_PODS, *CAT_REST, legacy), [
            exp("Service", "shop", "catalog", "error", "ALB via Ingress shop/web")]),
        case("guard: Pods that carry the target-health gate",
             state(BASE, X["svc-catalog"], *gated, *CAT_REST, ALB, web)),
        case("guard: instance targets (no target-type)", state(BASE, CATALOG, ALB, inst)),
        case("guard: not an ALB (IngressClass nginx)", state(BASE, CATALOG, ALB, NGINX, nginx)),
        case("guard: the Pods' node group is not rotating (--rotating ng-green)", state(BASE, CATALOG, ALB, web),
             options={"rotating": ["ng-green"]}),
        case("not run: no target version and no --rotating", state(BASE, CATALOG, ALB, web), options=None,
             not_run=NO_PLAN),
        case("not run: the state has no Ingresses", state(BASE, CATALOG, kinds=kinds("Ingress")),
             not_run="the state has no Ingress"),
    ]


def _pre_stop(kind: str) -> Any:
    handlers = {"sleep": {"sleep": {"seconds": 15}}, "exec": {"exec": {}}, "tcp": {"tcpSocket": {"port": 8080}}}

    def fn(p: Obj) -> None:
        p["spec"]["containers"][0]["lifecycle"] = {"preStop": handlers[kind]}
        p["spec"]["terminationGracePeriodSeconds"] = 45
    return fn


def drain() -> list[Obj]:
    web = X["ingress-web-catalog"]
    web60 = variant("ingress-web-delay-60", web, **{"metadata.annotations": {
        **IP, "alb.ingress.kubernetes.io/target-group-attributes": "deregistration_delay.timeout_seconds=60"}})
    svc20 = variant("svc-catalog-delay-20", X["svc-catalog"], **{"metadata.annotations": {
        "alb.ingress.kubernetes.io/target-group-attributes":
            "stickiness.enabled=true,deregistration_delay.timeout_seconds=20"}})
    nlb = variant("svc-catalog-nlb-attrs", X["svc-catalog-nlb-ip"], **{"metadata.annotations": {
        **X["svc-catalog-nlb-ip"]["metadata"]["annotations"],
        "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes":
            "preserve_client_ip.enabled=true,deregistration_delay.timeout_seconds=120"}})
    sleeping = with_pod_changes("catalog-prestop-sleep", CAT_PODS, _pre_stop("sleep"))
    execing = with_pod_changes("catalog-prestop-exec", CAT_PODS, _pre_stop("exec"))
    tcp = with_pod_changes("catalog-prestop-tcp", CAT_PODS, _pre_stop("tcp"))
    inst = X["ingress-web-instance"]
    return [
        case("ALB IP targets: the default 300 s delay, 30 s grace, no preStop hook", state(BASE, CATALOG, ALB, web), [
            exp("Service", "shop", "catalog", "warning", "2 Pods stop within 30 s, before the 300 s deregistration "
                "delay; 2 Pods have no preStop hook", deregistrationDelay=300, gracePeriods=[30])], options=None),
        case("the delay from the Ingress's target-group-attributes; Pods sleep in preStop",
             state(BASE, X["svc-catalog"], *sleeping, *CAT_REST, ALB, web60), [
            exp("Service", "shop", "catalog", "warning", "stop within 45 s, before the 60 s",
                loadBalancers=[{"delaySource": "Ingress shop/web"}])], options=None),
        case("NLB attributes on the Service: the fix keeps the other attributes",
             state(BASE, nlb, *execing, *CAT_REST, ALB), [
            exp("Service", "shop", "catalog", "warning", "before the 120 s deregistration delay")], options=None),
        case("a tcpSocket preStop hook holds nothing", state(BASE, svc20, *tcp, *CAT_REST, ALB, web), [
            exp("Service", "shop", "catalog", "warning", "2 Pods have no preStop hook", deregistrationDelay=20)],
            options=None),
        case("TargetGroupBinding: the target group's attribute is set with the AWS CLI",
             state(BASE, CHECKOUT, ALB, X["tgb-checkout"]), [
            exp("Service", "shop", "checkout", "warning", "TargetGroupBinding shop/checkout-tg")], options=None),
        case("guard: the Service's 20 s delay overrides the Ingress's, and the Pods sleep in preStop",
             state(BASE, svc20, *sleeping, *CAT_REST, ALB, web60), options=None),
        case("guard: instance targets", state(BASE, CATALOG, ALB, inst), options=None),
        case("not run: the state has no IngressClasses", state(BASE, CATALOG, kinds=kinds("IngressClass")),
             options=None, not_run="the state has no IngressClass"),
    ]


def _lbc() -> list[Obj]:
    dep, rs = b.deployment("aws-load-balancer-controller", "kube-system", T - 60 * DAYS, replicas=2,
                           labels={"app.kubernetes.io/name": "aws-load-balancer-controller"})
    pods = [dpod("aws-load-balancer-controller", "kube-system", i, n, ip) for i, (n, ip) in
            enumerate(((NB1, "10.0.1.201"), (NB2, "10.0.2.202")))]
    for p in pods:
        p["metadata"]["labels"] = {"app.kubernetes.io/name": "aws-load-balancer-controller",
                                   "pod-template-hash": p["metadata"]["labels"]["pod-template-hash"]}
    service = b.service("aws-load-balancer-webhook-service", "kube-system", T - 60 * DAYS,
                        selector={"app.kubernetes.io/name": "aws-load-balancer-controller"},
                        cluster_ip="172.20.0.77", ports=[{"name": "webhook-server", "port": 443, "protocol": "TCP",
                                                          "targetPort": "webhook-server"}])
    return rc.app("lbc-webhook", service, pods, dep, rs)


def webhook(name: str, kind: str, hooks: list[Obj]) -> Obj:
    return {"kind": kind, "apiVersion": "admissionregistration.k8s.io/v1",
            "metadata": meta(name, None, labels={"app.kubernetes.io/name": "aws-load-balancer-controller"}),
            "webhooks": hooks}


def hook(name: str, *, policy: str | None = "Fail", service: tuple[str, str] | None = None, url: str = "",
         resources: tuple[str, ...] = ("pods",)) -> Obj:
    cc: Obj = {"url": url} if url else {"service": {"namespace": service[0], "name": service[1],  # type: ignore[index]
                                                    "path": "/mutate-v1-pod", "port": 443}}
    h: Obj = {"name": name, "admissionReviewVersions": ["v1beta1"], "clientConfig": cc, "matchPolicy": "Equivalent",
              "namespaceSelector": {"matchExpressions": [{"key": "elbv2.k8s.aws/pod-readiness-gate-inject",
                                                          "operator": "In", "values": ["enabled"]}]},
              "objectSelector": {}, "reinvocationPolicy": "Never", "sideEffects": "None", "timeoutSeconds": 10,
              "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                         "resources": list(resources), "scope": "*"}]}
    if policy:
        h["failurePolicy"] = policy
    return h


def webhooks() -> list[Obj]:
    ns_ks = named("ns-kube-system", b.namespace("kube-system", T - 90 * DAYS))
    lbc = _lbc()
    svc_ref = ("kube-system", "aws-load-balancer-webhook-service")
    mut = named("mwc-lbc", webhook("aws-load-balancer-webhook", "MutatingWebhookConfiguration",
                                   [hook("mpod.elbv2.k8s.aws", service=svc_ref)]))
    orders = X["svc-orders"]
    val = named("vwc-orders", webhook("orders-policy", "ValidatingWebhookConfiguration", [
        hook("vorders.shop.example.com", policy=None, service=("shop", "orders"), resources=("configmaps",))]))
    gone = named("vwc-gone", webhook("orders-policy", "ValidatingWebhookConfiguration", [
        hook("vorders.shop.example.com", service=("shop", "orders-webhook"))]))
    ignore = named("vwc-ignore", webhook("orders-policy", "ValidatingWebhookConfiguration", [
        hook("vorders.shop.example.com", policy="Ignore", service=("shop", "orders-webhook"))]))
    url = named("vwc-url", webhook("orders-policy", "ValidatingWebhookConfiguration", [
        hook("vorders.shop.example.com", url="https://policy.example.com/validate")]))
    pdb = named("pdb-lbc", b.pdb("aws-load-balancer-controller", "kube-system", T - 10 * DAYS,
                                 selector={"app.kubernetes.io/name": "aws-load-balancer-controller"},
                                 max_unavailable=1, expected=2, healthy=2, desired=1, allowed=1))
    green = copy.deepcopy(lbc[2])
    green["spec"]["nodeName"] = rc.name_of(NG1)
    green["status"]["hostIP"] = rc.ip_of(NG1)
    green = named("pod-lbc-webhook-green", green)
    lbc_green = [lbc[0], lbc[1], green, *rc.variant_slices(lbc[0], [lbc[1], green]), *lbc[4:]]
    base = [*BASE, ns_ks]
    return [
        case("the load balancer controller's webhook: Fail, Pod CREATE, both replicas on ng-blue, no PDB",
             state(base, lbc, mut), [
            exp("MutatingWebhookConfiguration", "", "aws-load-balancer-webhook", "error",
                "the drain deadlocks", interceptsPodCreate=True, now=False, nodegroups=["ng-blue"])]),
        case("failurePolicy absent is Fail; the Service has no ready endpoint now (no plan needed)",
             state(base, orders, val), [
            exp("ValidatingWebhookConfiguration", "", "orders-policy", "error", "which has no ready endpoint now",
                now=True, interceptsPodCreate=False)], options=None),
        case("the webhook's Service does not exist", state(base, gone), [
            exp("ValidatingWebhookConfiguration", "", "orders-policy", "error", "which does not exist now")],
            options=None),
        case("guard: failurePolicy Ignore", state(base, ignore), options=None),
        case("guard: a url webhook", state(base, url), options=None),
        case("guard: a PodDisruptionBudget keeps one replica up", state(base, lbc, mut, pdb)),
        case("guard: one replica on ng-green stays", state(base, lbc_green, mut)),
        case("guard: without a plan only the Service's state now is judged", state(base, lbc, mut), options=None),
        case("not run: the state has no webhook configurations", state(base, lbc, kinds=kinds(*WEBHOOKS)),
             not_run="the state has no ValidatingWebhookConfiguration or MutatingWebhookConfiguration"),
    ]


def role(kind: str, name: str, ns: str | None, rules: list[Obj], **extra: Any) -> Obj:
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": meta(name, ns, labels={"app.kubernetes.io/name": "prometheus"}), "rules": rules, **extra}


def binding(kind: str, name: str, ns: str | None, role_kind: str, role_name: str, subjects: list[Obj]) -> Obj:
    return {"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": meta(name, ns),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": role_name},
            "subjects": subjects}


def rule_(groups: list[str], resources: list[str], verbs: list[str], **extra: Any) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs, **extra}


def rbac_cases() -> list[Obj]:
    sa = [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]
    read = ["get", "list", "watch"]
    scraper = named("clusterrole-scraper", role("ClusterRole", "prometheus-scraper", None, [
        rule_([""], ["nodes", "services", "endpoints", "pods"], read), rule_([""], ["configmaps"], ["get"])]))
    crb = named("crb-scraper", binding("ClusterRoleBinding", "prometheus-scraper", None, "ClusterRole",
                                       "prometheus-scraper", sa))
    prom = b.pod("prometheus-k8s-0", "monitoring", T - 3 * DAYS, labels={"app.kubernetes.io/name": "prometheus"},
                 node_name=rc.name_of(NG1), ips=["10.0.1.90"])
    prom["spec"]["serviceAccountName"] = "prometheus"
    prom = named("pod-prometheus", prom)
    partial = named("role-partial", role("Role", "endpoint-reader", "shop", [
        rule_(["*"], ["endpoints"], ["list", "watch"]), rule_(["discovery.k8s.io"], ["endpointslices"], ["watch"])]))
    rb = named("rb-partial", binding("RoleBinding", "endpoint-reader", "shop", "Role", "endpoint-reader", [
        {"kind": "ServiceAccount", "name": "ingress-sync"}]))
    rb_cluster = named("rb-scraper", binding("RoleBinding", "prometheus-scraper", "shop", "ClusterRole",
                                             "prometheus-scraper", [{"kind": "Group", "name": "shop-oncall",
                                                                     "apiGroup": "rbac.authorization.k8s.io"}]))
    both = named("clusterrole-both", role("ClusterRole", "prometheus-scraper", None, [
        rule_([""], ["endpoints", "services"], read), rule_(["discovery.k8s.io"], ["endpointslices"], read)]))
    system = named("clusterrole-system", role("ClusterRole", "system:controller:endpoint-controller", None, [
        rule_([""], ["endpoints"], ["create", "delete", "get", "list", "update"])]))
    crb_system = named("crb-system", binding("ClusterRoleBinding", "system:controller:endpoint-controller", None,
                                             "ClusterRole", "system:controller:endpoint-controller", [
        {"kind": "ServiceAccount", "name": "endpoint-controller", "namespace": "kube-system"}]))
    aggregated = named("clusterrole-view", role("ClusterRole", "monitoring-view", None, [
        rule_([""], ["endpoints"], read)], aggregationRule={"clusterRoleSelectors": [
            {"matchLabels": {"rbac.example.com/aggregate-to-monitoring": "true"}}]}))
    crb_agg = named("crb-view", binding("ClusterRoleBinding", "monitoring-view", None, "ClusterRole",
                                        "monitoring-view", sa))
    leader = named("role-leader", role("Role", "leader-locking", "monitoring", [
        rule_([""], ["endpoints"], ["get", "update"], resourceNames=["prometheus-operator-lock"])]))
    rb_leader = named("rb-leader", binding("RoleBinding", "leader-locking", "monitoring", "Role", "leader-locking",
                                           sa))
    admin = named("clusterrole-admin", role("ClusterRole", "platform-admin", None, [rule_(["*"], ["*"], ["*"])]))
    crb_admin = named("crb-admin", binding("ClusterRoleBinding", "platform-admin", None, "ClusterRole",
                                           "platform-admin", sa))
    return [
        case("a ClusterRole bound to a ServiceAccount that a running Pod uses", state(BASE, scraper, crb, prom), [
            exp("ClusterRole", "", "prometheus-scraper", "warning", "grants get, list, watch on endpoints but not get, "
                "list, watch on endpointslices", pods=["monitoring/prometheus-k8s-0"],
                subjects=["ServiceAccount monitoring/prometheus"])], options=None),
        case("a Role with apiGroups * on endpoints and only watch on endpointslices", state(BASE, partial, rb), [
            exp("Role", "shop", "endpoint-reader", "warning", "not list on endpointslices", missingVerbs=["list"],
                subjects=["ServiceAccount shop/ingress-sync"])], options=None),
        case("a ClusterRole bound by a RoleBinding counts", state(BASE, scraper, rb_cluster), [
            exp("ClusterRole", "", "prometheus-scraper", "warning", "Group shop-oncall")], options=None),
        case("guard: the role grants both", state(BASE, both, crb), options=None),
        case("guard: system: roles belong to the control plane", state(BASE, system, crb_system), options=None),
        case("guard: aggregated ClusterRoles", state(BASE, aggregated, crb_agg), options=None),
        case("guard: an unbound role", state(BASE, scraper), options=None),
        case("guard: resourceNames (a leader-election lock)", state(BASE, leader, rb_leader), options=None),
        case("guard: wildcards grant endpointslices too", state(BASE, admin, crb_admin), options=None),
        case("not run: the state has no RBAC", state(BASE, kinds=kinds("RoleBinding", "ClusterRoleBinding")),
             options=None, not_run="the state has no RoleBinding, ClusterRoleBinding"),
    ]


def local() -> list[Obj]:
    lb = variant("svc-catalog-local", X["svc-catalog"], **{
        "spec.type": "LoadBalancer", "spec.externalTrafficPolicy": "Local", "spec.healthCheckNodePort": 31977,
        "spec.allocateLoadBalancerNodePorts": True})
    lb["spec"]["ports"][0]["nodePort"] = 30480
    cluster = variant("svc-catalog-cluster", lb, **{"spec.externalTrafficPolicy": "Cluster"})
    del cluster["spec"]["healthCheckNodePort"]
    nlb_ip = variant("svc-catalog-local-ip", lb, **{"metadata.annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}})
    np = variant("svc-checkout-nodeport", X["svc-checkout"], **{"spec.type": "NodePort",
                                                                "spec.externalTrafficPolicy": "Local"})
    np["spec"]["ports"][0]["nodePort"] = 30481
    ne = variant("svc-node-exporter-local", X["svc-node-exporter"], **{"spec.type": "NodePort",
                                                                       "spec.externalTrafficPolicy": "Local"})
    ne["spec"]["ports"][0]["nodePort"] = 30910
    return [
        case("LoadBalancer, Local, both ready Pods on ng-blue", state(BASE, lb, *CAT_PODS, *CAT_REST), [
            exp("Service", "shop", "catalog", "warning", "2 ready Pods on rotating nodes (ng-blue)",
                nodes=[rc.name_of(NB1), rc.name_of(NB2)], type="LoadBalancer")]),
        case("NodePort, Local, one of two Pods on ng-blue", state(BASE, np, *CHECKOUT[1:]), [
            exp("Service", "shop", "checkout", "warning", "1 ready Pod on rotating nodes", type="NodePort")]),
        case("guard: externalTrafficPolicy Cluster", state(BASE, cluster, *CAT_PODS, *CAT_REST)),
        case("guard: NLB IP targets skip the nodes", state(BASE, nlb_ip, *CAT_PODS, *CAT_REST)),
        case("guard: DaemonSet Pods leave with their node", state(BASE, ne, *NODE_EXPORTER[1:])),
        case("guard: the Pods' node group is not rotating (--rotating ng-green)",
             state(BASE, lb, *CAT_PODS, *CAT_REST), options={"rotating": ["ng-green"]}),
        case("not run: no target version and no --rotating", state(BASE, lb, *CAT_PODS, *CAT_REST), options=None,
             not_run=NO_PLAN),
    ]


def main() -> None:
    write("ingress-backend-unavailable", HEADER, backend_unavailable())
    write("lb-target-readiness-gate-missing", HEADER, readiness_gate())
    write("lb-drain-shorter-than-deregistration", HEADER, drain())
    write("webhook-backend-at-risk", HEADER + "\nThe AWS Load Balancer Controller's webhook Service in kube-system.",
          webhooks())
    write("rbac-endpoints-without-endpointslices", HEADER, rbac_cases())
    write("external-traffic-local-rotation", HEADER, local())


if __name__ == "__main__":
    main()
