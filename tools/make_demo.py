"""Generate the bundled demo states: a blue/green node group migration with real problems in it.

Run from the repo root: `python tools/make_demo.py` writes auditor/demo/before.json.gz and after.json.gz.
BEFORE: control plane 1.30, node group ng-blue (kubelet 1.29, 6 nodes in 3 zones).
AFTER: ng-green (kubelet 1.30) replaced ng-blue; Pods rescheduled with new names, uids and IPs. Left broken:
  shop/recommendations   a controller slice still lists a Pod on a removed ng-blue node (controller stuck
                         for it: FailedToUpdateEndpointSlices), and its new ready Pod is missing
  shop/cart-manual       a hand-made slice for selector Service cart, still holding dead Pod IPs
  search/query-api       lost all endpoints: its Pods are Pending (nodeSelector pins them to ng-blue)
  payments/fraud-check   slices miss two ready Pods
  search/indexer         stale v1 Endpoints (old Pod IPs)
and, healthy but tricky: default/kubernetes, headless StatefulSet data/redis (same names, new uids),
dual-stack shop/frontend, selectorless data/legacy-db with its own slice, a Cilium ClusterMesh slice.

Both states carry the workloads behind the Services (a Deployment and its ReplicaSet each) and their
PodDisruptionBudgets (maxUnavailable 1), so a pre-flight `audit before --rotating ng-blue` sees the risks
the migration then turns into findings:
  search/query-api       no PodDisruptionBudget and no readiness probe: predicted to lose its endpoints
  payments/ledger        a PDB with minAvailable equal to its replicas: blocks the drain of ng-blue
  data/kafka-ui, monitoring/prometheus, monitoring/grafana   one replica each
  shop/web               behind an ALB Ingress with IP targets; its Pods were created without the load balancer
                         controller's readiness gate
  aws-load-balancer-webhook   the controller's Pod webhook (failurePolicy Fail): both replicas on ng-blue, no PDB
  prometheus-scraper     a ClusterRole bound to monitoring/prometheus that reads endpoints but not endpointslices
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import builders as b  # noqa: E402

BASE = "2026-11-20T08:00:00Z"
ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]

APPS: list[tuple[str, str, int, dict[str, Any]]] = [
    # namespace, name, replicas, extra
    ("shop", "frontend", 3, {"dual": True}),
    ("shop", "cart", 3, {}),
    ("shop", "checkout", 2, {}),
    ("shop", "catalog", 3, {}),
    ("shop", "recommendations", 2, {}),
    ("shop", "reviews", 2, {}),
    ("shop", "images", 2, {}),
    ("payments", "gateway", 3, {}),
    ("payments", "fraud-check", 4, {}),
    ("payments", "ledger", 2, {}),
    ("payments", "notifications", 2, {}),
    ("search", "query-api", 2, {}),
    ("search", "indexer", 2, {}),
    ("search", "suggest", 2, {}),
    ("data", "kafka-ui", 1, {}),
    ("monitoring", "prometheus", 1, {}),
    ("monitoring", "grafana", 1, {}),
    ("monitoring", "alertmanager", 2, {}),
    ("kube-system", "coredns", 2, {"svc": "kube-dns", "labels": {"k8s-app": "kube-dns"}}),
    ("kube-system", "metrics-server", 2, {}),
    ("kube-system", "aws-load-balancer-controller", 2, {"svc": "aws-load-balancer-webhook-service"}),
    ("identity", "auth", 3, {}),
    ("identity", "users", 2, {}),
    ("identity", "sessions", 2, {}),
    ("shop", "web", 2, {}),
]
#: kube-system workloads that run on the rotating node group (the others sit on ng-system, which stays)
ROTATING_SYSTEM = {("kube-system", "aws-load-balancer-controller")}


def nodes_for(group: str, kubelet: str, created_min: float, first_ip: int) -> list[dict[str, Any]]:
    out = []
    for i in range(6):
        ip = f"10.0.{first_ip + i // 3}.{10 + i}"
        name = f"ip-{ip.replace('.', '-')}.eu-west-1.compute.internal"
        out.append(b.node(name, b.at(BASE, created_min + i), zone=ZONES[i % 3], kubelet=kubelet,
                          nodegroup=group, ip=ip))
    return out


class Cluster:
    def __init__(self, taken_min: float, nodes: list[dict[str, Any]]) -> None:
        self.taken = b.at(BASE, taken_min)
        self.nodes = nodes
        self.by_name = {n["metadata"]["name"]: n for n in nodes}
        self.objects: list[dict[str, Any]] = []
        self.ip_counter = 0

    def next_ip(self, node_idx: int, gen: int) -> str:
        self.ip_counter += 1
        return f"10.0.{64 + gen * 16 + node_idx}.{20 + self.ip_counter}"


def build(after: bool) -> dict[str, Any]:
    blue = nodes_for("ng-blue", "v1.29.8-eks-a737599", -60 * 24 * 30, 1)
    green = nodes_for("ng-green", "v1.30.4-eks-a737599", 50, 2)
    # ng-system (kube-system workloads) is not part of the migration: the same two nodes in both states.
    system = [b.node(f"ip-10-0-9-{10 + i}.eu-west-1.compute.internal", b.at(BASE, -60 * 24 * 40 + i),
                     zone=ZONES[i], kubelet="v1.30.4-eks-a737599", nodegroup="ng-system", ip=f"10.0.9.{10 + i}",
                     instance_type="t3.large") for i in range(2)]
    nodes = green if after else blue
    c = Cluster(150 if after else 0, nodes + system)
    gen = 1 if after else 0
    objs = c.objects
    for ns in ["default", "kube-system", "shop", "payments", "search", "data", "monitoring", "identity"]:
        objs.append(b.namespace(ns, b.at(BASE, -60 * 24 * 90)))
    objs += nodes + system
    svc_created = b.at(BASE, -60 * 24 * 60)
    apiserver_ips = ["10.0.50.12", "10.0.51.40"] if after else ["10.0.50.11", "10.0.51.37"]
    objs += b.apiserver_objects(b.at(BASE, -60 * 24 * 90), apiserver_ips)
    pod_time = b.at(BASE, 60 + 2) if after else b.at(BASE, -60 * 24 * 10)
    written = b.at(BASE, 60 + 5) if after else b.at(BASE, -60 * 24 * 10)
    old_pods: dict[str, list[dict[str, Any]]] = {}
    for n_i, (ns, app, replicas, extra) in enumerate(APPS):
        labels = extra.get("labels") or {"app.kubernetes.io/name": app}
        svc_name = extra.get("svc", app)
        dual = bool(extra.get("dual"))
        svc = b.service(svc_name, ns, svc_created, selector=labels, cluster_ip=f"172.20.{10 + n_i}.{20 + n_i}",
                        families=["IPv4", "IPv6"] if dual else None)
        objs.append(svc)
        pods = []
        stay = ns == "kube-system" and (ns, app) not in ROTATING_SYSTEM
        pool = system if stay else nodes
        for r in range(replicas):
            node_idx = (n_i + r) % len(pool)
            node_name = pool[node_idx]["metadata"]["name"]
            ips = [c.next_ip(node_idx, gen)]
            if dual:
                ips.append(f"2a05:d018:1:{gen}{node_idx}::{c.ip_counter:x}")
            ready = True
            if stay:
                ips = [f"10.0.9.{100 + n_i * 4 + r}"]  # never moved: same Pods, same IPs in both states
            if after and (ns, app) == ("search", "query-api"):
                node_name, ips, ready = None, None, False  # Pending: nodeSelector pins ng-blue
            pods.append(b.replicaset_pod(app, ns, r, b.at(BASE, -60 * 24 * 10) if stay else pod_time,
                                         labels=labels, node_name=node_name, ips=ips, ready=ready,
                                         seed="gen0" if stay else f"gen{gen}"))
        probe = (ns, app) != ("search", "query-api")  # query-api's containers declare no readiness probe
        for p in pods:
            b.with_probe(p, probe=probe)
        ready_now = 0 if after and (ns, app) == ("search", "query-api") else replicas
        objs += b.deployment(app, ns, svc_created, replicas=replicas, labels=labels, ready=ready_now, probe=probe)
        objs += _budget(ns, app, labels, replicas, ready_now)
        if (ns, app) == ("monitoring", "prometheus"):
            for p in pods:
                p["spec"]["serviceAccountName"] = "prometheus"
        objs += pods
        slice_pods = pods
        if after and (ns, app) == ("payments", "fraud-check"):
            slice_pods = pods[:2]  # two ready Pods never made it into the slices
        slices = b.controller_slices(svc, slice_pods, c.by_name, written)
        endpoints_pods = pods
        if after and (ns, app) == ("shop", "recommendations"):
            # The controller keeps failing for this Service: its slice still shows the old Pod on a
            # removed ng-blue node, and the new ready Pod is missing.
            old = build_old_pods(ns, app, labels, replicas)
            slices = b.controller_slices(svc, [old[0], pods[1]], {**c.by_name, **old_nodes()},
                                         b.at(BASE, -60 * 24 * 10))
        if after and (ns, app) == ("search", "indexer"):
            endpoints_pods = build_old_pods(ns, app, labels, replicas)  # Endpoints controller lagging
        objs += slices
        ep = b.endpoints_object(svc, endpoints_pods, c.by_name, b.at(BASE, -60 * 24 * 10) if (
            after and app == "indexer") else written)
        objs.append(ep)
        old_pods[f"{ns}/{app}"] = pods
    # Hand-made slice for selector Service shop/cart: written once by a migration script, never updated.
    cart_old = (build_old_pods("shop", "cart", {"app.kubernetes.io/name": "cart"}, 3) if after
                else old_pods["shop/cart"])
    objs.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                 "metadata": b.meta("cart-manual", "shop", b.at(BASE, -60 * 24 * 20),
                                    labels={"kubernetes.io/service-name": "cart"}),
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": [p["status"]["podIP"]], "conditions": {"ready": True}}
                               for p in cart_old[:2]],
                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    # Headless StatefulSet: redis-0..2 keep their names, get new uids and IPs after the rotation.
    redis = b.service("redis", "data", svc_created, selector={"app": "redis"}, headless=True, pnra=True,
                      ports=[{"name": "redis", "port": 6379, "protocol": "TCP", "targetPort": 6379}])
    objs.append(redis)
    sts_owner = {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "redis", "uid": b.uid("data/redis-sts"),
                 "controller": True, "blockOwnerDeletion": True}
    rpods = []
    for i in range(3):
        node_idx = (i * 2) % len(nodes)
        rpods.append(b.pod(f"redis-{i}", "data", pod_time + b.timedelta(minutes=i),
                           labels={"app": "redis", "statefulset.kubernetes.io/pod-name": f"redis-{i}"},
                           node_name=nodes[node_idx]["metadata"]["name"], ips=[c.next_ip(node_idx, gen)],
                           owner_ref=sts_owner, hostname=f"redis-{i}", subdomain="redis"))
    objs += rpods
    objs.append(b.pdb("redis", "data", svc_created, selector={"app": "redis"}, max_unavailable=1, expected=3,
                      healthy=3, desired=2, allowed=1))
    objs += b.controller_slices(redis, rpods, c.by_name, written + b.timedelta(minutes=3))
    objs.append(b.endpoints_object(redis, rpods, c.by_name, written + b.timedelta(minutes=3)))
    # Selectorless Service for an external database, with its own slice (the documented pattern).
    legacy = b.service("legacy-db", "data", svc_created, ports=[{"name": "pg", "port": 5432, "protocol": "TCP",
                                                                   "targetPort": 5432}])
    objs.append(legacy)
    objs.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                 "metadata": b.meta("legacy-db-1", "data", svc_created,
                                    labels={"kubernetes.io/service-name": "legacy-db",
                                            "endpointslice.kubernetes.io/managed-by": "dba-team"}),
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": ["10.50.0.10"], "conditions": {"ready": True}},
                               {"addresses": ["10.50.0.11"], "conditions": {"ready": True}}],
                 "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]})
    # Cilium ClusterMesh adds remote endpoints to identity/auth (legitimate third-party writer).
    objs.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                 "metadata": b.meta("auth-cluster-eu-central-1-x2", "identity", b.at(BASE, -60 * 24 * 5),
                                    labels={"kubernetes.io/service-name": "auth",
                                            "endpointslice.kubernetes.io/managed-by":
                                                "endpointslice-mesh-controller.cilium.io"}),
                 "addressType": "IPv4",
                 "endpoints": [{"addresses": ["10.8.3.21"], "nodeName": "eu-central-1-node-7",
                                "conditions": {"ready": True}}],
                 "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
    objs += traffic_path(svc_created)
    label = "after" if after else "before"
    doc = b.snapshot_doc(objs, c.taken, label=label, server_version="v1.30.4-eks-a737599",
                         context="arn:aws:eks:eu-west-1:111122223333:cluster/shop-prod", eks=eks_section(after))
    # served and read although empty here; the Gateway API is not installed
    doc["metadata"]["kinds"] += [k for k in ("ValidatingWebhookConfiguration", "Role", "RoleBinding")
                                 if k not in doc["metadata"]["kinds"]]
    doc["metadata"]["notServed"] = {k: "not served by this cluster (gateway.networking.k8s.io/v1 not installed)"
                                    for k in ("Gateway", "HTTPRoute", "GRPCRoute")}
    return doc


LBC_LABELS = {"app.kubernetes.io/name": "aws-load-balancer-controller", "app.kubernetes.io/instance":
              "aws-load-balancer-controller"}


def traffic_path(created: Any) -> list[dict[str, Any]]:
    """The ALB in front of shop/web (IP targets, Pods created before the readiness gate), the load balancer
    controller's Pod webhook (Fail) and a monitoring ClusterRole that reads Endpoints only."""
    ingress_class = {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                     "metadata": b.meta("alb", None, created, labels=LBC_LABELS), "spec": {"controller":
                                                                                        "ingress.k8s.aws/alb"}}
    ingress = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
               "metadata": {**b.meta("web", "shop", created, annotations={
                   "alb.ingress.kubernetes.io/scheme": "internet-facing",
                   "alb.ingress.kubernetes.io/target-type": "ip"}), "generation": 1,
                   "finalizers": ["ingress.k8s.aws/resources"]},
               "spec": {"ingressClassName": "alb", "rules": [{"host": "shop.example.com", "http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
               "status": {"loadBalancer": {"ingress": [
                   {"hostname": "k8s-shop-web-7c1f0e2a4b-1029384756.eu-west-1.elb.amazonaws.com"}]}}}
    tgb_name = "k8s-shop-web-5e3a9c1f2d"
    binding = {"kind": "TargetGroupBinding", "apiVersion": "elbv2.k8s.aws/v1beta1",
               "metadata": b.meta(tgb_name, "shop", created, labels={"ingress.k8s.aws/stack-name": "web",
                                                                    "ingress.k8s.aws/stack-namespace": "shop"}),
               "spec": {"serviceRef": {"name": "web", "port": 80}, "targetType": "ip", "ipAddressType": "ipv4",
                        "targetGroupARN": "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/"
                                          f"{tgb_name}/8f2b4c6d1e3a5b7c"},
               "status": {"observedGeneration": 1}}
    hook = {"name": "mpod.elbv2.k8s.aws", "admissionReviewVersions": ["v1beta1"], "failurePolicy": "Fail",
            "matchPolicy": "Equivalent", "sideEffects": "None", "timeoutSeconds": 10, "reinvocationPolicy": "Never",
            "clientConfig": {"service": {"namespace": "kube-system", "name": "aws-load-balancer-webhook-service",
                                         "path": "/mutate-v1-pod", "port": 443}},
            "namespaceSelector": {"matchExpressions": [{"key": "elbv2.k8s.aws/pod-readiness-gate-inject",
                                                        "operator": "In", "values": ["enabled"]}]},
            "objectSelector": {}, "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                              "resources": ["pods"], "scope": "Namespaced"}]}
    webhook = {"kind": "MutatingWebhookConfiguration", "apiVersion": "admissionregistration.k8s.io/v1",
               "metadata": b.meta("aws-load-balancer-webhook", None, created, labels=LBC_LABELS),
               "webhooks": [hook]}
    read = ["get", "list", "watch"]
    role = {"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": b.meta("prometheus-scraper", None, created, labels={"app.kubernetes.io/name": "prometheus"}),
            "rules": [{"apiGroups": [""], "resources": ["nodes", "nodes/metrics", "services", "endpoints", "pods"],
                       "verbs": read}, {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]}
    bind = {"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
            "metadata": b.meta("prometheus-scraper", None, created, labels={"app.kubernetes.io/name": "prometheus"}),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "prometheus-scraper"},
            "subjects": [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}]}
    return [ingress_class, ingress, binding, webhook, role, bind]


def _budget(ns: str, app: str, labels: dict[str, str], replicas: int, healthy: int) -> list[dict[str, Any]]:
    """The app's PodDisruptionBudget as the disruption controller reports it; none for query-api (forgotten)
    nor for single-replica apps; ledger's demands every replica (minAvailable = replicas): no disruption."""
    if replicas < 2 or (ns, app) in (("search", "query-api"), ("kube-system", "aws-load-balancer-controller")):
        return []
    created = b.at(BASE, -60 * 24 * 60)
    if (ns, app) == ("payments", "ledger"):
        return [b.pdb(app, ns, created, selector=labels, min_available=replicas, expected=replicas,
                      healthy=healthy, desired=replicas, allowed=0)]
    return [b.pdb(app, ns, created, selector=labels, max_unavailable=1, expected=replicas, healthy=healthy,
                  desired=replicas - 1, allowed=max(0, healthy - (replicas - 1)))]


def _nodegroup(name: str, version: str, release: str, created: str, desired: int) -> dict[str, Any]:
    ng_id = b.uid(f"ng/{name}")
    return {"nodegroupName": name, "clusterName": "shop-prod", "version": version, "releaseVersion": release,
            "nodegroupArn": f"arn:aws:eks:eu-west-1:111122223333:nodegroup/shop-prod/{name}/{ng_id}",
            "createdAt": created, "modifiedAt": created, "status": "ACTIVE", "capacityType": "ON_DEMAND",
            "instanceTypes": ["m6i.large"], "amiType": "AL2023_x86_64_STANDARD",
            "scalingConfig": {"minSize": desired, "maxSize": desired * 2, "desiredSize": desired},
            "updateConfig": {"maxUnavailable": 1}, "labels": {}, "taints": [],
            "resources": {"autoScalingGroups": [{"name": f"eks-{name}-{ng_id}"}]}, "health": {"issues": []}}


def eks_section(after: bool) -> dict[str, Any]:
    """The snapshot's `eks` part as `snapshot --eks-cluster` writes it (planning the move to 1.31)."""
    groups = [_nodegroup("ng-system", "1.30", "1.30.6-20241121", "2026-08-12T09:00:00Z", 2)]
    if after:
        groups.append(_nodegroup("ng-green", "1.30", "1.30.6-20241121", "2026-11-20T08:50:00Z", 6))
    else:
        groups.append(_nodegroup("ng-blue", "1.29", "1.29.10-20241121", "2026-10-21T08:00:00Z", 6))
    addon = [("vpc-cni", "v1.16.4-eksbuild.2", "v1.19.0-eksbuild.1", ["v1.19.0-eksbuild.1", "v1.18.6-eksbuild.1"]),
             ("coredns", "v1.11.3-eksbuild.1", "v1.11.3-eksbuild.2", ["v1.11.3-eksbuild.2", "v1.11.3-eksbuild.1"]),
             ("kube-proxy", "v1.30.6-eksbuild.3", "v1.31.2-eksbuild.3", ["v1.31.2-eksbuild.3", "v1.30.6-eksbuild.3"])]
    return {
        "clusterName": "shop-prod", "region": "eu-west-1", "targetVersion": "1.31",
        "cluster": {"name": "shop-prod", "arn": "arn:aws:eks:eu-west-1:111122223333:cluster/shop-prod",
                    "version": "1.30", "platformVersion": "eks.8", "status": "ACTIVE", "health": {"issues": []},
                    "createdAt": "2024-03-11T09:12:44Z", "upgradePolicy": {"supportType": "STANDARD"},
                    "kubernetesNetworkConfig": {"serviceIpv4Cidr": "172.20.0.0/16", "ipFamily": "ipv4"}},
        "nodegroups": groups,
        "addons": [{"addonName": n, "clusterName": "shop-prod", "addonVersion": v, "status": "ACTIVE",
                    "health": {"issues": []}} for n, v, _, _ in addon],
        "addonVersions": {n: {"targetVersion": "1.31", "defaultVersion": d, "compatibleVersions": c}
                          for n, _, d, c in addon},
        # snapshot --eks-cluster collects compatibility for the current minor (compare, verify) and the next
        "addonVersionsByTarget": {
            "1.31": {n: {"targetVersion": "1.31", "defaultVersion": d, "compatibleVersions": c}
                     for n, _, d, c in addon},
            "1.30": {n: {"targetVersion": "1.30", "defaultVersion": v, "compatibleVersions": [v]}
                     for n, v, _, _ in addon}},
        "insights": [
            {"id": "a1b2c3d4-0001", "name": "Deprecated APIs removed in Kubernetes v1.32",
             "category": "UPGRADE_READINESS", "kubernetesVersion": "1.32",
             "insightStatus": {"status": "WARNING", "reason": "Deprecated API usage detected within last 30 days"},
             "recommendation": "Update manifests and API clients to use newer Kubernetes APIs if applicable "
                               "before upgrading to Kubernetes v1.32.",
             "description": "Checks for usage of deprecated APIs that are scheduled for removal in Kubernetes "
                            "v1.32."},
            {"id": "a1b2c3d4-0002", "name": "Kubelet version skew", "category": "UPGRADE_READINESS",
             "kubernetesVersion": "1.31",
             "insightStatus": {"status": "PASSING", "reason": "No issues found."},
             "recommendation": "Upgrade your worker nodes to match the Kubernetes version of your cluster "
                               "control plane.",
             "description": "Checks for kubelet versions of worker nodes in the cluster."}],
        "updates": {"cluster": [], "nodegroups": {g["nodegroupName"]: [] for g in groups}},
        "missing": [],
    }


def old_nodes() -> dict[str, dict[str, Any]]:
    return {n["metadata"]["name"]: n for n in nodes_for("ng-blue", "v1.29.8-eks-a737599", -60 * 24 * 30, 1)}


def build_old_pods(ns: str, app: str, labels: dict[str, str], replicas: int) -> list[dict[str, Any]]:
    """The BEFORE generation of an app's Pods, rebuilt identically (same seeds) for stale references."""
    before = build_cache()
    return [p for p in before if p["kind"] == "Pod" and p["metadata"]["namespace"] == ns
            and p["metadata"].get("labels", {}).get("app.kubernetes.io/name") == app][:replicas]


_CACHE: list[dict[str, Any]] = []


def build_cache() -> list[dict[str, Any]]:
    if not _CACHE:
        b._RV[0] = 1000
        _CACHE.extend(build(after=False)["items"])
    return _CACHE


def main() -> None:
    out = ROOT / "auditor" / "demo"
    build_cache()
    b._RV[0] = 1000
    before_doc = build(after=False)
    after_doc = build(after=True)
    for name, doc in (("before", before_doc), ("after", after_doc)):
        data = json.dumps(doc, indent=1, sort_keys=False).encode()
        with gzip.GzipFile(out / f"{name}.json.gz", "wb", mtime=0) as fh:
            fh.write(data)
        print(f"wrote {out / f'{name}.json.gz'}: {len(doc['items'])} objects")


if __name__ == "__main__":
    main()
