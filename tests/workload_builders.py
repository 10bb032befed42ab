"""API-shaped workload objects (apps/v1, policy/v1, karpenter.sh/v1) for tests, as the controllers write them:
a Deployment owns its ReplicaSet `<deploy>-<pod-template-hash>` (the name `builders.replicaset_pod` gives its
Pods), StatefulSet Pods are `<sts>-<ordinal>` with the controller-revision-hash label, PDB status is what the
disruption controller writes, NodeClaims carry Karpenter's conditions and labels."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import builders as b

Obj = dict[str, Any]

READINESS = {"httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP"}, "periodSeconds": 5,
             "timeoutSeconds": 1, "successThreshold": 1, "failureThreshold": 3}
LIVENESS = {"tcpSocket": {"port": "http"}, "periodSeconds": 10, "timeoutSeconds": 1, "successThreshold": 1,
            "failureThreshold": 3}


def _template(labels: dict[str, str], *, probe: bool = True) -> Obj:
    c: Obj = {"name": "app", "image": "public.ecr.aws/docker/library/nginx:1.27",
              "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
              "livenessProbe": dict(LIVENESS)}
    if probe:
        c["readinessProbe"] = dict(READINESS)
    return {"metadata": {"labels": dict(labels)}, "spec": {"containers": [c], "restartPolicy": "Always"}}


def with_probe(pod: Obj, probe: bool = True, *, startup: bool = False) -> Obj:
    """The Pod's container as its template declares it: liveness always, readiness when `probe`."""
    c = pod["spec"]["containers"][0]
    c["livenessProbe"] = dict(LIVENESS)
    if probe:
        c["readinessProbe"] = dict(READINESS)
    if startup:
        c["startupProbe"] = {"httpGet": {"path": "/started", "port": "http"}, "periodSeconds": 2,
                             "failureThreshold": 30}
    return pod


def deployment(name: str, ns: str, created: datetime, *, replicas: int, labels: dict[str, str],
               ready: int | None = None, probe: bool = True) -> tuple[Obj, Obj]:
    """(Deployment, its current ReplicaSet), named as `builders.replicaset_pod` names the Pods' owner."""
    ready = replicas if ready is None else ready
    rs_hash = b.suffix(f"{ns}/{name}/rs", 10)
    rs_name = f"{name}-{rs_hash}"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {**b.meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/deployment"),
                        "generation": 1, "annotations": {"deployment.kubernetes.io/revision": "1"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                            "maxUnavailable": "25%"}},
                    "template": _template(labels, probe=probe)},
           "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                      "readyReplicas": ready, "availableReplicas": ready}}
    rs_labels = {**labels, "pod-template-hash": rs_hash}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {**b.meta(rs_name, ns, created, labels=rs_labels, seed=f"{ns}/{rs_name}",
                                owners=[b.owner("Deployment", dep, "apps/v1")]),
                       "generation": 1, "annotations": {"deployment.kubernetes.io/desired-replicas": str(replicas),
                                                        "deployment.kubernetes.io/revision": "1"}},
          "spec": {"replicas": replicas, "selector": {"matchLabels": rs_labels},
                   "template": _template(rs_labels, probe=probe)},
          "status": {"observedGeneration": 1, "replicas": replicas, "fullyLabeledReplicas": replicas,
                     "readyReplicas": ready, "availableReplicas": ready}}
    return dep, rs


def statefulset(name: str, ns: str, created: datetime, *, replicas: int, labels: dict[str, str],
                service: str) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {**b.meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/statefulset"),
                         "generation": 1},
            "spec": {"replicas": replicas, "serviceName": service, "selector": {"matchLabels": dict(labels)},
                     "podManagementPolicy": "OrderedReady", "updateStrategy": {"type": "RollingUpdate"},
                     "template": _template(labels)},
            "status": {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                       "currentReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                       "currentRevision": f"{name}-7c9d8f6b5", "updateRevision": f"{name}-7c9d8f6b5"}}


def statefulset_pod(sts: Obj, ordinal: int, created: datetime, *, node_name: str, ip: str) -> Obj:
    name, ns = sts["metadata"]["name"], sts["metadata"]["namespace"]
    labels = {**sts["spec"]["selector"]["matchLabels"], "controller-revision-hash": f"{name}-7c9d8f6b5",
              "statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}", "apps.kubernetes.io/pod-index": str(ordinal)}
    p = b.pod(f"{name}-{ordinal}", ns, created, labels=labels, node_name=node_name, ips=[ip],
              owner_ref=b.owner("StatefulSet", sts, "apps/v1"), generate_name=f"{name}-",
              hostname=f"{name}-{ordinal}", subdomain=sts["spec"]["serviceName"])
    return with_probe(p)


def daemonset(name: str, ns: str, created: datetime, *, labels: dict[str, str], nodes: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {**b.meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/daemonset"),
                         "generation": 1},
            "spec": {"selector": {"matchLabels": dict(labels)}, "template": _template(labels, probe=False),
                     "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}},
            "status": {"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes, "numberReady": nodes,
                       "numberAvailable": nodes, "updatedNumberScheduled": nodes, "numberMisscheduled": 0,
                       "observedGeneration": 1}}


def daemonset_pod(ds: Obj, node_name: str, created: datetime, *, ip: str, host_network: bool = False) -> Obj:
    name, ns = ds["metadata"]["name"], ds["metadata"]["namespace"]
    labels = {**ds["spec"]["selector"]["matchLabels"], "controller-revision-hash": "6d4b8c7f9",
              "pod-template-generation": "1"}
    p = b.pod(f"{name}-{b.suffix(node_name)}", ns, created, labels=labels, node_name=node_name, ips=[ip],
              owner_ref=b.owner("DaemonSet", ds, "apps/v1"), generate_name=f"{name}-", host_network=host_network)
    return with_probe(p, probe=False)


def pdb(name: str, ns: str, created: datetime, *, selector: dict[str, str], min_available: Any = None,
        max_unavailable: Any = None, expected: int, healthy: int, desired: int, allowed: int,
        policy: str | None = None) -> Obj:
    """A policy/v1 PodDisruptionBudget with the status the disruption controller writes."""
    spec: Obj = {"selector": {"matchLabels": dict(selector)}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    if policy:
        spec["unhealthyPodEvictionPolicy"] = policy
    t = b.ts(created + timedelta(seconds=5))
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {**b.meta(name, ns, created, seed=f"{ns}/{name}/pdb"), "generation": 1},
            "spec": spec,
            "status": {"observedGeneration": 1, "expectedPods": expected, "currentHealthy": healthy,
                       "desiredHealthy": desired, "disruptionsAllowed": allowed,
                       "conditions": [{"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                                       "reason": "SufficientPods" if allowed else "InsufficientPods",
                                       "message": "", "observedGeneration": 1, "lastTransitionTime": t}]}}


def nodepool(name: str, created: datetime) -> Obj:
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {**b.meta(name, None, created, seed=f"nodepool/{name}"), "generation": 1,
                         "annotations": {"karpenter.sh/nodepool-hash": "4012513481623584108",
                                         "karpenter.sh/nodepool-hash-version": "v3"}},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass",
                                                            "name": "default"},
                                           "requirements": [{"key": "karpenter.sh/capacity-type",
                                                             "operator": "In", "values": ["on-demand"]}],
                                           "expireAfter": "720h"}},
                     "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m",
                                    "budgets": [{"nodes": "10%"}]}},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready",
                                       "lastTransitionTime": b.ts(created)}]}}


def nodeclaim(pool: str, node: Obj, created: datetime, *, drifted: bool) -> Obj:
    node_name = node["metadata"]["name"]
    name = f"{pool}-{b.suffix(node_name)}"
    conds = [{"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": b.ts(created)}
             for t in ("Launched", "Registered", "Initialized", "Ready")]
    if drifted:
        conds.append({"type": "Drifted", "status": "True", "reason": "AMIDrift", "message": "",
                      "lastTransitionTime": b.ts(created + timedelta(days=1))})
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {**b.meta(name, None, created, labels={"karpenter.sh/nodepool": pool,
                                                               "karpenter.k8s.aws/ec2nodeclass": "default"},
                                  seed=f"nodeclaim/{name}"),
                         "finalizers": ["karpenter.sh/termination"]},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                     "requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": [pool]}],
                     "expireAfter": "720h"},
            "status": {"nodeName": node_name, "providerID": node["spec"]["providerID"],
                       "imageID": "ami-0a1b2c3d4e5f60718", "conditions": conds}}
