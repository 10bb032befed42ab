"""Real-shaped Kubernetes objects for the API double: what a 1.33 API server returns, managedFields included."""
from __future__ import annotations

import datetime
import uuid
import zlib
from collections.abc import Iterator
from typing import Any, NamedTuple

CONTROLLER = "endpointslice-controller.k8s.io"
T0 = "2025-06-01T08:00:00Z"
T1 = "2025-06-01T08:00:30Z"
_ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")


def uid(kind: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{n}"))


def _h(text: str) -> int:
    return zlib.crc32(text.encode())


def _managed(manager: str, api_version: str, operation: str = "Update") -> list[dict[str, Any]]:
    return [{"manager": manager, "operation": operation, "apiVersion": api_version, "time": T0,
             "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {".": {}}}}}]


def namespace(name: str, n: int = 0) -> dict[str, Any]:
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": {"name": name, "uid": uid("ns", n), "resourceVersion": str(100 + n),
                         "creationTimestamp": T0, "labels": {"kubernetes.io/metadata.name": name},
                         "managedFields": _managed("kubectl-create", "v1")},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(n: int, version: str = "v1.33.1-eks-b9b5b5e") -> dict[str, Any]:
    name = f"ip-10-0-{n // 250}-{n % 250 + 1}.ec2.internal"
    zone = _ZONES[n % 3]
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "uid": uid("node", n), "resourceVersion": str(1000 + n),
                         "creationTimestamp": T0,
                         "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                    "topology.kubernetes.io/zone": zone, "eks.amazonaws.com/nodegroup": "blue",
                                    "node.kubernetes.io/instance-type": "m6i.large"},
                         "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                         "managedFields": _managed("kubelet", "v1")},
            "spec": {"providerID": f"aws:///{zone}/i-{n:017x}"},
            "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                       "message": "kubelet is posting ready status",
                                       "lastHeartbeatTime": T1, "lastTransitionTime": T0}],
                       "addresses": [{"type": "InternalIP", "address": f"10.0.{n // 250}.{n % 250 + 1}"},
                                     {"type": "Hostname", "address": name}],
                       "nodeInfo": {"kubeletVersion": version, "kubeProxyVersion": version,
                                    "containerRuntimeVersion": "containerd://1.7.27", "osImage": "Amazon Linux 2023",
                                    "architecture": "amd64", "operatingSystem": "linux"},
                       "capacity": {"cpu": "2", "memory": "7910436Ki", "pods": "29"}}}


def pod(ns: str, app: str, n: int, node_name: str, ip: str) -> dict[str, Any]:
    rs = f"{app}-7d9f8c6b5"
    name = f"{rs}-{n:05x}"
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "generateName": f"{rs}-", "namespace": ns, "uid": uid("pod", n),
                         "resourceVersion": str(20000 + n), "creationTimestamp": T0,
                         "labels": {"app": app, "pod-template-hash": "7d9f8c6b5"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                              "uid": uid("rs", _h(rs)), "controller": True,
                                              "blockOwnerDeletion": True}],
                         "managedFields": _managed("kube-controller-manager", "v1")},
            "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1.4.2",
                                     "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                     "terminationMessagePath": "/dev/termination-log",
                                     "imagePullPolicy": "IfNotPresent"}],
                     "nodeName": node_name, "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "serviceAccountName": "default", "schedulerName": "default-scheduler"},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.0.0.1",
                       "startTime": T0, "qosClass": "Burstable",
                       "conditions": [{"type": t, "status": "True", "lastProbeTime": None,
                                       "lastTransitionTime": T1}
                                      for t in ("PodReadyToStartContainers", "Initialized", "Ready",
                                                "ContainersReady", "PodScheduled")],
                       "containerStatuses": [{"name": app, "ready": True, "restartCount": 0, "started": True,
                                              "image": f"registry.example/{app}:1.4.2",
                                              "imageID": f"registry.example/{app}@sha256:{uid('img', _h(app))}",
                                              "containerID": f"containerd://{uid('ctr', n)}",
                                              "state": {"running": {"startedAt": T1}}}]}}


def service(ns: str, app: str, n: int) -> dict[str, Any]:
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": app, "namespace": ns, "uid": uid("svc", n), "resourceVersion": str(5000 + n),
                         "creationTimestamp": T0, "labels": {"app": app},
                         "managedFields": _managed("kubectl-client-side-apply", "v1")},
            "spec": {"selector": {"app": app}, "type": "ClusterIP", "clusterIP": f"172.20.{n // 250}.{n % 250 + 1}",
                     "clusterIPs": [f"172.20.{n // 250}.{n % 250 + 1}"], "ipFamilies": ["IPv4"],
                     "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
                     "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]},
            "status": {"loadBalancer": {}}}


def endpoints(svc: dict[str, Any], pods: list[dict[str, Any]]) -> dict[str, Any]:
    meta = svc["metadata"]
    return {"kind": "Endpoints", "apiVersion": "v1",
            "metadata": {"name": meta["name"], "namespace": meta["namespace"], "uid": uid("ep", _h(meta["uid"])),
                         "resourceVersion": str(int(meta["resourceVersion"]) + 1), "creationTimestamp": T0,
                         "labels": {**meta.get("labels", {}), "endpoints.kubernetes.io/managed-by":
                                    "endpoint-controller"},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T1},
                         "managedFields": _managed("kube-controller-manager", "v1")},
            "subsets": [{"addresses": [{"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                                        "targetRef": {"kind": "Pod", "namespace": meta["namespace"],
                                                      "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                                       for p in pods],
                         "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}] if pods else []}


def endpointslice(svc: dict[str, Any], pods: list[dict[str, Any]], zones: dict[str, str]) -> dict[str, Any]:
    meta = svc["metadata"]
    name = f"{meta['name']}-{meta['uid'][:5]}"
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": name, "generateName": f"{meta['name']}-", "namespace": meta["namespace"],
                         "uid": uid("eps", _h(meta["uid"])),
                         "resourceVersion": str(int(meta["resourceVersion"]) + 2), "generation": 1,
                         "creationTimestamp": T0,
                         "labels": {**meta.get("labels", {}), "kubernetes.io/service-name": meta["name"],
                                    "endpointslice.kubernetes.io/managed-by": CONTROLLER},
                         "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": T1},
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": meta["name"],
                                              "uid": meta["uid"], "controller": True, "blockOwnerDeletion": True}],
                         "managedFields": _managed("kube-controller-manager", "discovery.k8s.io/v1")},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [p["status"]["podIP"]],
                           "conditions": {"ready": True, "serving": True, "terminating": False},
                           "nodeName": p["spec"]["nodeName"], "zone": zones.get(p["spec"]["nodeName"], ""),
                           "targetRef": {"kind": "Pod", "namespace": meta["namespace"],
                                         "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                          for p in pods],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def workloads(ns: str, app: str, n: int, replicas: int, pdb: bool) -> list[dict[str, Any]]:
    """The Deployment and ReplicaSet behind `pod(ns, app, ...)` Pods, and a PodDisruptionBudget when `pdb`."""
    rs = f"{app}-7d9f8c6b5"
    labels = {"app": app}
    template = {"metadata": {"labels": {**labels, "pod-template-hash": "7d9f8c6b5"}},
                "spec": {"containers": [{"name": app, "image": f"registry.example/{app}:1.4.2",
                                         "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                                         "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080},
                                                            "periodSeconds": 5}}]}}
    deploy_uid = uid("deploy", n)
    out = [{"kind": "Deployment", "apiVersion": "apps/v1",
            "metadata": {"name": app, "namespace": ns, "uid": deploy_uid, "resourceVersion": str(8000 + n),
                         "generation": 1, "creationTimestamp": T0, "labels": labels,
                         "managedFields": _managed("kubectl-client-side-apply", "apps/v1")},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels}, "template": template,
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                            "maxUnavailable": "25%"}}},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "updatedReplicas": replicas, "observedGeneration": 1}},
           {"kind": "ReplicaSet", "apiVersion": "apps/v1",
            "metadata": {"name": rs, "namespace": ns, "uid": uid("rs", _h(rs)), "resourceVersion": str(9000 + n),
                         "generation": 1, "creationTimestamp": T0, "labels": template["metadata"]["labels"],
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app,
                                              "uid": deploy_uid, "controller": True, "blockOwnerDeletion": True}],
                         "managedFields": _managed("kube-controller-manager", "apps/v1")},
            "spec": {"replicas": replicas, "selector": {"matchLabels": template["metadata"]["labels"]},
                     "template": template},
            "status": {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
                       "observedGeneration": 1}}]
    if pdb:
        out.append({"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
                    "metadata": {"name": app, "namespace": ns, "uid": uid("pdb", n),
                                 "resourceVersion": str(9500 + n), "generation": 1, "creationTimestamp": T0,
                                 "managedFields": _managed("kubectl-client-side-apply", "policy/v1")},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}},
                    "status": {"currentHealthy": replicas, "desiredHealthy": max(0, replicas - 1),
                               "disruptionsAllowed": 1 if replicas else 0, "expectedPods": replicas,
                               "observedGeneration": 1}})
    return out


def cluster(pods: int = 20, services: int = 4, nodes: int = 3, namespaces: int = 2,
            with_workloads: bool = False) -> Iterator[dict[str, Any]]:
    """A consistent cluster: each Service selects its share of Pods, with its Endpoints and one slice.

    `with_workloads` adds each Service's Deployment and ReplicaSet, and a PodDisruptionBudget for every
    other Service."""
    names = [f"team-{i}" for i in range(namespaces)]
    yield from (namespace(n, i) for i, n in enumerate(["default", "kube-system", *names]))
    node_objs = [node(i) for i in range(nodes)]
    yield from node_objs
    zones = {n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in node_objs}
    node_names = list(zones)
    per_service = max(1, pods // max(1, services))
    made = 0
    for s in range(services):
        ns = names[s % len(names)]
        svc = service(ns, f"app-{s}", s)
        members = []
        count = per_service if s < services - 1 else pods - made
        for _ in range(max(0, count)):
            ip = f"10.{1 + made // 62500}.{made // 250 % 250}.{made % 250 + 1}"
            members.append(pod(ns, f"app-{s}", made, node_names[made % len(node_names)], ip))
            made += 1
        yield svc
        yield from members
        yield endpoints(svc, members)
        yield endpointslice(svc, members, zones)
        if with_workloads:
            yield from workloads(ns, f"app-{s}", s, len(members), pdb=s % 2 == 0)


# -- a rotation in progress: the objects' states between BEFORE and AFTER (bench/bench_rotation.py) ----------------

class Endpoint(NamedTuple):
    """One Pod as an endpoint of its Service's slice (conditions as the EndpointSlice controller sets them)."""

    ip: str
    node: str
    pod: str  # name
    uid: str
    ready: bool
    serving: bool
    terminating: bool


def timestamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# The changes below are made in place, on the object given, which is returned (copy it first to keep it): a
# benchmark moves a hundred thousand Pods through them.

def cordoned(node_obj: dict[str, Any], at: float) -> dict[str, Any]:
    """The Node after `kubectl cordon` at `at` (epoch seconds), as a node group update does to the nodes it replaces."""
    node_obj["spec"]["unschedulable"] = True
    node_obj["spec"]["taints"] = [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule",
                                   "timeAdded": timestamp(at)}]
    return node_obj


def terminating(pod_obj: dict[str, Any], at: float, grace: int = 30) -> dict[str, Any]:
    """The Pod evicted at `at`: a deletionTimestamp `grace` seconds on, no longer ready (it still runs and serves)."""
    meta = pod_obj["metadata"]
    meta["deletionTimestamp"] = timestamp(at + grace)
    meta["deletionGracePeriodSeconds"] = grace
    _readiness(pod_obj, False, timestamp(at))
    return pod_obj


def replacement(ns: str, app: str, n: int, node_obj: dict[str, Any], at: float) -> dict[str, Any]:
    """A new Pod of `app` created at `at`, scheduled to `node_obj`: Pending, its container being created, no IP yet
    (a new object)."""
    when = timestamp(at)
    out = pod(ns, app, n, node_obj["metadata"]["name"], "")
    out["metadata"]["creationTimestamp"] = when
    status = out["status"]
    del status["podIP"], status["podIPs"]
    status.update(phase="Pending", hostIP=node_obj["status"]["addresses"][0]["address"], startTime=when)
    status["conditions"] = [{"type": t, "status": "True" if t == "PodScheduled" else "False", "lastProbeTime": None,
                             "lastTransitionTime": when}
                            for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                      "PodScheduled")]
    for cs in status["containerStatuses"]:
        cs.update(ready=False, started=False, state={"waiting": {"reason": "ContainerCreating"}})
        del cs["containerID"]
    return out


def running(pod_obj: dict[str, Any], ip: str, at: float, ready: bool) -> dict[str, Any]:
    """The Pending `replacement()` running with `ip` since `at`, ready or not (its readiness probe)."""
    when = timestamp(at)
    status = pod_obj["status"]
    if status["phase"] == "Pending":
        status.update(phase="Running", podIP=ip, podIPs=[{"ip": ip}])
        for cond in status["conditions"]:
            if cond["type"] in ("PodReadyToStartContainers", "Initialized"):
                cond["status"], cond["lastTransitionTime"] = "True", when
        n = pod_obj["metadata"]["uid"]
        for cs in status["containerStatuses"]:
            cs.update(started=True, state={"running": {"startedAt": when}}, containerID=f"containerd://{n}")
    _readiness(pod_obj, ready, when)
    return pod_obj


def _readiness(pod_obj: dict[str, Any], ready: bool, when: str) -> None:
    for cond in pod_obj["status"]["conditions"]:
        if cond["type"] in ("Ready", "ContainersReady"):
            cond["status"], cond["lastTransitionTime"] = ("True" if ready else "False"), when
            if ready:
                cond.pop("reason", None)
            else:
                cond["reason"] = "ContainersNotReady"
    for cs in pod_obj["status"]["containerStatuses"]:
        cs["ready"] = ready


def endpointslice_of(svc: dict[str, Any], members: list[Endpoint], zones: dict[str, str],
                     trigger: float) -> dict[str, Any]:
    """The Service's controller-managed slice listing `members`, written for a change at `trigger` (epoch seconds)."""
    out = endpointslice(svc, [], zones)
    ns = svc["metadata"]["namespace"]
    out["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = timestamp(trigger)
    out["endpoints"] = [{"addresses": [e.ip],
                         "conditions": {"ready": e.ready, "serving": e.serving, "terminating": e.terminating},
                         "nodeName": e.node, "zone": zones.get(e.node, ""),
                         "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod, "uid": e.uid}}
                        for e in members]
    return out


def endpoints_of(svc: dict[str, Any], members: list[Endpoint], trigger: float) -> dict[str, Any]:
    """The Service's v1 Endpoints as the endpoints controller writes them: ready Pods in `addresses`, Pods not
    ready yet in `notReadyAddresses`, terminating Pods left out."""
    out = endpoints(svc, [])
    ns = svc["metadata"]["namespace"]
    out["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = timestamp(trigger)

    def address(e: Endpoint) -> dict[str, Any]:
        return {"ip": e.ip, "nodeName": e.node, "targetRef": {"kind": "Pod", "namespace": ns, "name": e.pod,
                                                              "uid": e.uid}}

    subset: dict[str, Any] = {}
    ready = [address(e) for e in members if e.ready and not e.terminating]
    waiting = [address(e) for e in members if not e.ready and not e.terminating]
    if ready:
        subset["addresses"] = ready
    if waiting:
        subset["notReadyAddresses"] = waiting
    out["subsets"] = [{**subset, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}] if subset else []
    return out
