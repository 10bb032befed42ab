"""Synthetic cluster states at scale (real-shaped objects), streamed to disk for the benchmarks.

`write_state(path, pods=100_000, services=10_000, nodes=1_000)` writes a kubectl-style List with
Namespaces, Nodes, Pods (Deployment-owned, with the containers, volumes, probes and statuses real Pods
carry), Services, controller EndpointSlices and Endpoints, and the traffic path (an Ingress per tenth
Service, webhooks, roles). `rotated=True` writes the same workloads after
a full node rotation (every node replaced, every Pod rescheduled with a new name, uid and IP).
A handful of problems are planted so that the rules have something to find.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, BinaryIO

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import builders as b  # noqa: E402

BASE = "2026-11-20T08:00:00Z"
ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]


def _fatten(p: dict[str, Any], app: str, i: int) -> None:
    """Give a Pod what real Pods carry (env, mounts, probes, tolerations, statuses): real sizes."""
    c = p["spec"]["containers"][0]
    c["image"] = f"111122223333.dkr.ecr.us-east-1.amazonaws.com/{app}:1.{i % 40}.{i % 7}"
    c["env"] = [{"name": f"{app.upper().replace('-', '_')}_SETTING_{k}", "value": f"value-{k}-{i % 13}"}
                for k in range(8)] + [{"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                                     "fieldPath": "status.podIP"}}}]
    c["volumeMounts"] = [{"name": "kube-api-access-x7k2p", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "readOnly": True}, {"name": "config", "mountPath": "/etc/app"}]
    probe = {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "initialDelaySeconds": 5,
             "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}
    c["readinessProbe"] = probe
    c["livenessProbe"] = probe
    c["terminationMessagePath"] = "/dev/termination-log"
    c["terminationMessagePolicy"] = "File"
    c["imagePullPolicy"] = "IfNotPresent"
    c["securityContext"] = {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}}
    p["spec"]["containers"].append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.23.2",
                                    "args": ["proxy", "sidecar", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
                                    "resources": {"limits": {"cpu": "2", "memory": "1Gi"},
                                                  "requests": {"cpu": "100m", "memory": "128Mi"}}})
    p["spec"]["tolerations"] = [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}]
    p["spec"]["volumes"] = [{"name": "kube-api-access-x7k2p", "projected": {"defaultMode": 420, "sources": [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1",
                                                                       "fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "config", "configMap": {"name": f"{app}-config", "defaultMode": 420}}]
    p["spec"]["dnsPolicy"] = "ClusterFirst"
    p["spec"]["enableServiceLinks"] = True
    p["spec"]["preemptionPolicy"] = "PreemptLowerPriority"
    p["spec"]["priority"] = 0
    p["metadata"]["annotations"] = {"kubectl.kubernetes.io/restartedAt": "2026-11-01T10:00:00Z",
                                    "prometheus.io/scrape": "true", "prometheus.io/port": "9090"}
    started = p["status"].get("startTime", "2026-11-20T08:00:00Z")
    p["status"]["containerStatuses"] = [
        {"name": name, "image": img, "imageID": f"{img}@sha256:{'a1b2c3d4' * 8}",
         "containerID": f"containerd://{'0f1e2d3c' * 8}", "ready": True, "restartCount": 0, "started": True,
         "state": {"running": {"startedAt": started}}, "lastState": {}}
        for name, img in (("app", c["image"]), ("istio-proxy", "docker.io/istio/proxyv2:1.23.2"))]


class _Writer:
    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.first = True
        self.count = 0

    def add(self, obj: dict[str, Any]) -> None:
        self.fh.write(b"\n" if self.first else b",\n")
        self.first = False
        self.fh.write(orjson.dumps(obj))
        self.count += 1


def _traffic(services: int, namespaces: int) -> list[dict[str, Any]]:
    """The traffic path: an ALB IngressClass, an Ingress per tenth Service (IP targets on every other one), 20
    admission webhooks (failurePolicy Fail, calling Services), and 200 roles (half ClusterRoles, half Roles), each
    bound to a ServiceAccount, one in ten reading endpoints without endpointslices."""
    made = b.at(BASE, -60 * 24 * 30)
    out: list[dict[str, Any]] = [{"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                                  "metadata": b.meta("alb", None, made), "spec": {"controller": "ingress.k8s.aws/alb"}}]
    for s in range(0, services, 10):
        ns, app = f"team-{s % namespaces:03d}", f"svc-{s:05d}"
        ann = {"alb.ingress.kubernetes.io/target-type": "ip"} if s % 20 == 0 else None
        out.append({"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
                    "metadata": b.meta(app, ns, made, annotations=ann),
                    "spec": {"ingressClassName": "alb", "rules": [{"host": f"{app}.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix",
                         "backend": {"service": {"name": app, "port": {"number": 80}}}}]}}]}})
    for i in range(20):
        s = (i * 487) % services
        kind = "ValidatingWebhookConfiguration" if i % 2 else "MutatingWebhookConfiguration"
        out.append({"kind": kind, "apiVersion": "admissionregistration.k8s.io/v1",
                    "metadata": b.meta(f"policy-{i:02d}", None, made),
                    "webhooks": [{"name": f"w{i}.policy.example.com", "failurePolicy": "Fail", "sideEffects": "None",
                                  "admissionReviewVersions": ["v1"],
                                  "clientConfig": {"service": {"namespace": f"team-{s % namespaces:03d}",
                                                               "name": f"svc-{s:05d}", "port": 443}},
                                  "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"],
                                             "resources": ["pods"], "scope": "*"}]}]})
    read = ["get", "list", "watch"]
    for i in range(200):
        ns = f"team-{i % namespaces:03d}"
        cluster = i % 2 == 0
        rules = [{"apiGroups": [""], "resources": ["pods", "services", "endpoints"], "verbs": read}]
        if i % 10:
            rules.append({"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": read})
        kind = "ClusterRole" if cluster else "Role"
        out.append({"kind": kind, "apiVersion": "rbac.authorization.k8s.io/v1",
                    "metadata": b.meta(f"reader-{i:03d}", None if cluster else ns, made), "rules": rules})
        out.append({"kind": "ClusterRoleBinding" if cluster else "RoleBinding",
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "metadata": b.meta(f"reader-{i:03d}", None if cluster else ns, made),
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": f"reader-{i:03d}"},
                    "subjects": [{"kind": "ServiceAccount", "name": f"reader-{i:03d}", "namespace": ns}]})
    return out


def write_state(path: Path, *, pods: int = 100_000, services: int = 10_000, nodes: int = 1_000,
                rotated: bool = False, workloads: bool = True, traffic: bool = True) -> int:
    """Stream a kubectl List to `path`; returns the number of objects written. `workloads`: each Service's
    Deployment and ReplicaSet, and a PodDisruptionBudget (maxUnavailable 1) for every other Service. `traffic`:
    the Ingresses, webhooks and roles of `_traffic`."""
    gen = 1 if rotated else 0
    taken = b.at(BASE, 240 if rotated else 0)
    created = b.at(BASE, 120 if rotated else -60 * 24 * 7)
    namespaces = max(1, services // 100)
    with open(path, "wb") as fh:
        fh.write(b'{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":""},"items":[')
        w = _Writer(fh)
        for n in range(namespaces):
            w.add(b.namespace(f"team-{n:03d}", b.at(BASE, -60 * 24 * 90)))
        node_objs: dict[str, dict[str, Any]] = {}
        group = "ng-green" if rotated else "ng-blue"
        kubelet = "v1.31.2-eks-7f9249a" if rotated else "v1.30.4-eks-a737599"
        for i in range(nodes):
            ip = f"10.{gen * 64 + i // 250}.{(i // 10) % 25}.{i % 250 + 1}"
            name = f"ip-{ip.replace('.', '-')}.ec2.internal"
            node = b.node(name, b.at(BASE, (120 if rotated else -60 * 24 * 30) + i / 10), zone=ZONES[i % 3],
                          kubelet=kubelet, nodegroup=f"{group}-{i % 4}", ip=ip, heartbeat=taken)
            node_objs[name] = node
            w.add(node)
        node_names = list(node_objs)
        per_svc = max(1, pods // services)
        ip_n = 0
        pending: list[dict[str, Any]] = []
        for s in range(services):
            ns = f"team-{s % namespaces:03d}"
            app = f"svc-{s:05d}"
            labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/part-of": ns}
            svc = b.service(app, ns, b.at(BASE, -60 * 24 * 60), selector=labels,
                            cluster_ip=f"172.20.{s // 250}.{s % 250 + 1}")
            w.add(svc)
            if workloads:
                for obj in b.deployment(app, ns, b.at(BASE, -60 * 24 * 60), replicas=per_svc, labels=labels):
                    w.add(obj)
                if s % 2 == 0:
                    w.add(b.pdb(app, ns, b.at(BASE, -60 * 24 * 60), selector=labels, max_unavailable=1,
                                expected=per_svc, healthy=per_svc, desired=per_svc - 1, allowed=1))
            pod_objs = []
            for r in range(per_svc):
                ip_n += 1
                ip = f"100.{64 + gen * 32 + ip_n // 65536}.{(ip_n // 256) % 256}.{ip_n % 256}"
                node_name = node_names[(s * per_svc + r) % len(node_names)]
                p = b.replicaset_pod(app, ns, r, created, labels=labels, node_name=node_name, ips=[ip],
                                     seed=f"g{gen}")
                _fatten(p, app, r)
                pod_objs.append(p)
                w.add(p)
            slice_pods = pod_objs
            if s % 1000 == 7:  # planted: ready Pods missing from the slices
                slice_pods = pod_objs[: max(0, len(pod_objs) - 2)]
            for slc in b.controller_slices(svc, slice_pods, node_objs, created + b.timedelta(seconds=30)):
                w.add(slc)
            w.add(b.endpoints_object(svc, pod_objs, node_objs, created + b.timedelta(seconds=30)))
            if s % 2500 == 3:  # planted: a hand-made slice on a selector Service
                pending.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                                "metadata": b.meta(f"{app}-manual", ns, b.at(BASE, -60 * 24 * 20),
                                                   labels={"kubernetes.io/service-name": app}),
                                "addressType": "IPv4",
                                "endpoints": [{"addresses": [f"100.64.0.{s % 250 + 1}"],
                                               "conditions": {"ready": True}}]})
        if traffic:
            pending += _traffic(services, namespaces)
        for obj in pending + b.apiserver_objects(b.at(BASE, -60 * 24 * 90), ["10.0.50.11", "10.0.51.37"]):
            w.add(obj)
        fh.write(b"\n]}\n")
    return w.count


if __name__ == "__main__":
    out = Path(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    count = write_state(out, pods=n, services=max(1, n // 10), nodes=max(3, n // 100))
    print(f"{out}: {count} objects, {out.stat().st_size / 1e6:.1f} MB")
