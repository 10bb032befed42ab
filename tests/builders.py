"""Test builders, the one place that makes API-shaped objects and cluster states for tests, the demo and benchmarks.

Objects look exactly as an API server returns them, as the controllers write them: controller slices have
generateName `<svc>-`, the managed-by and service-name labels, an ownerReference to the Service and one
address per endpoint; Endpoints carry the Service's labels and no ownerReference; a Deployment owns its
ReplicaSet `<deploy>-<pod-template-hash>` (the name `replicaset_pod` gives its Pods), StatefulSet Pods are
`<sts>-<ordinal>` with the controller-revision-hash label, PDB status is what the disruption controller writes,
NodeClaims carry Karpenter's conditions and labels. `state_from` turns a case's dict (objects and what the
state knew about them) into a ClusterState.
"""
from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import msgspec

from auditor.analysis.timeline import Timeline
from auditor.model import InputInfo
from auditor.state import kinds as registry
from auditor.state.clusterstate import ClusterState, MissingResource, parse_time
from auditor.state.objects import KubeObject

Obj = dict[str, Any]
_RV = [1000]


def ts(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(base: str, minutes: float = 0) -> datetime:
    return datetime.fromisoformat(base.replace("Z", "+00:00")) + timedelta(minutes=minutes)


def uid(seed: str) -> str:
    """Deterministic uuid from a seed, so generated fixtures are reproducible."""
    return str(uuid.UUID(hashlib.md5(seed.encode()).hexdigest()))


def suffix(seed: str, n: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    h = int(hashlib.sha1(seed.encode()).hexdigest(), 16)
    out = ""
    for _ in range(n):
        h, r = divmod(h, len(alphabet))
        out += alphabet[r]
    return out


def rv() -> str:
    _RV[0] += 1
    return str(_RV[0])


def meta(name: str, namespace: str | None, created: datetime, *, labels: dict[str, str] | None = None,
         annotations: dict[str, str] | None = None, owners: list[Obj] | None = None,
         generate_name: str | None = None, seed: str | None = None) -> Obj:
    m: Obj = {"name": name}
    if generate_name:
        m["generateName"] = generate_name
    if namespace is not None:
        m["namespace"] = namespace
    m["uid"] = uid(seed or f"{namespace}/{name}/{ts(created)}")
    m["resourceVersion"] = rv()
    m["creationTimestamp"] = ts(created)
    if labels:
        m["labels"] = dict(labels)
    if annotations:
        m["annotations"] = dict(annotations)
    if owners:
        m["ownerReferences"] = owners
    return m


def owner(kind: str, obj: Obj, api_version: str = "v1") -> Obj:
    return {"apiVersion": api_version, "kind": kind, "name": obj["metadata"]["name"],
            "uid": obj["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def namespace(name: str, created: datetime) -> Obj:
    return {"kind": "Namespace", "apiVersion": "v1",
            "metadata": meta(name, None, created, labels={"kubernetes.io/metadata.name": name}),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def node(name: str, created: datetime, *, zone: str, kubelet: str = "v1.30.4-eks-a737599",
         nodegroup: str | None = None, nodepool: str | None = None, ip: str = "10.0.0.10",
         heartbeat: datetime | None = None, instance_type: str = "m6i.large") -> Obj:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
              "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": zone[:-1],
              "node.kubernetes.io/instance-type": instance_type}
    if nodegroup:
        labels["eks.amazonaws.com/nodegroup"] = nodegroup
        labels["eks.amazonaws.com/capacityType"] = "ON_DEMAND"
    if nodepool:
        labels["karpenter.sh/nodepool"] = nodepool
    hb = ts(heartbeat or created)
    return {
        "kind": "Node", "apiVersion": "v1",
        "metadata": meta(name, None, created, labels=labels),
        "spec": {"providerID": f"aws:///{zone}/i-{suffix(name, 17)}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": hb,
                            "lastTransitionTime": ts(created + timedelta(seconds=40)), "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": kubelet, "kubeProxyVersion": kubelet,
                         "osImage": "Amazon Linux 2023", "containerRuntimeVersion": "containerd://1.7.22",
                         "architecture": "amd64", "operatingSystem": "linux"},
        },
    }


def service(name: str, ns: str, created: datetime, *, selector: dict[str, str] | None = None,
            cluster_ip: str = "172.20.0.10", families: list[str] | None = None, headless: bool = False,
            pnra: bool = False, ports: list[Obj] | None = None, labels: dict[str, str] | None = None,
            svc_type: str = "ClusterIP", annotations: dict[str, str] | None = None) -> Obj:
    families = families or ["IPv4"]
    spec: Obj = {"type": svc_type}
    if svc_type == "ExternalName":
        spec["externalName"] = "db.example.com"
    else:
        spec["clusterIP"] = "None" if headless else cluster_ip
        spec["clusterIPs"] = ["None"] if headless else [cluster_ip] + (
            ["fd00:20::a"] if len(families) > 1 else [])
        spec["ipFamilies"] = families
        spec["ipFamilyPolicy"] = "PreferDualStack" if len(families) > 1 else "SingleStack"
        spec["ports"] = ports if ports is not None else [
            {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]
        spec["sessionAffinity"] = "None"
        spec["internalTrafficPolicy"] = "Cluster"
    if selector is not None:
        spec["selector"] = selector
    if pnra:
        spec["publishNotReadyAddresses"] = True
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": meta(name, ns, created, labels=labels or {"app.kubernetes.io/name": name},
                             annotations=annotations),
            "spec": spec, "status": {"loadBalancer": {}}}


def pod(name: str, ns: str, created: datetime, *, labels: dict[str, str], node_name: str | None,
        ips: list[str] | None, ready: bool = True, phase: str = "Running", owner_ref: Obj | None = None,
        generate_name: str | None = None, deleting_at: datetime | None = None, ready_at: datetime | None = None,
        hostname: str | None = None, subdomain: str | None = None, host_network: bool = False,
        grace: int = 30) -> Obj:
    spec: Obj = {"containers": [{"name": "app", "image": "public.ecr.aws/docker/library/nginx:1.27",
                                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
                 "restartPolicy": "Always", "terminationGracePeriodSeconds": grace,
                 "serviceAccountName": "default", "schedulerName": "default-scheduler"}
    if node_name:
        spec["nodeName"] = node_name
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    if host_network:
        spec["hostNetwork"] = True
    m = meta(name, ns, created, labels=labels, owners=[owner_ref] if owner_ref else None,
             generate_name=generate_name)
    if deleting_at is not None:
        m["deletionTimestamp"] = ts(deleting_at + timedelta(seconds=grace))
        m["deletionGracePeriodSeconds"] = grace
    rt = ts(ready_at or created + timedelta(seconds=20))
    conds = [{"type": "PodScheduled", "status": "True" if node_name else "False",
              "lastTransitionTime": ts(created)}]
    if node_name:
        conds += [{"type": "Initialized", "status": "True", "lastTransitionTime": ts(created + timedelta(seconds=2))},
                  {"type": "ContainersReady", "status": "True" if ready else "False", "lastTransitionTime": rt},
                  {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": rt}]
    status: Obj = {"phase": phase if node_name else "Pending", "conditions": conds, "qosClass": "Burstable"}
    if ips and node_name:
        status["podIP"] = ips[0]
        status["podIPs"] = [{"ip": ip} for ip in ips]
        status["hostIP"] = "10.0.0.10"
        status["startTime"] = ts(created + timedelta(seconds=1))
    return {"kind": "Pod", "apiVersion": "v1", "metadata": m, "spec": spec, "status": status}


def replicaset_pod(deploy: str, ns: str, idx: int, created: datetime, *, labels: dict[str, str],
                   node_name: str | None, ips: list[str] | None, seed: str = "", **kw: Any) -> Obj:
    """A Deployment's Pod: name `<deploy>-<hash>-<5 chars>`, owned by its ReplicaSet."""
    rs_hash = suffix(f"{ns}/{deploy}/rs", 10)
    rs = f"{deploy}-{rs_hash}"
    name = f"{rs}-{suffix(f'{ns}/{deploy}/{idx}/{seed}')}"
    rs_owner = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": uid(f"{ns}/{rs}"),
                "controller": True, "blockOwnerDeletion": True}
    return pod(name, ns, created, labels={**labels, "pod-template-hash": rs_hash}, node_name=node_name,
               ips=ips, owner_ref=rs_owner, generate_name=f"{rs}-", **kw)


def _family(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def endpoint_for(p: Obj, ip: str, *, nodes: dict[str, Obj], pnra: bool = False,
                 svc_name: str | None = None) -> Obj:
    """The endpoint the EndpointSlice controller writes for a Pod (podToEndpoint)."""
    ready_cond = next((c for c in p["status"].get("conditions", []) if c["type"] == "Ready"), None)
    serving = bool(ready_cond and ready_cond["status"] == "True")
    terminating = "deletionTimestamp" in p["metadata"]
    ep: Obj = {"addresses": [ip],
               "conditions": {"ready": pnra or (serving and not terminating), "serving": serving,
                              "terminating": terminating},
               "targetRef": {"kind": "Pod", "namespace": p["metadata"]["namespace"],
                             "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
    n = p["spec"].get("nodeName")
    if n:
        ep["nodeName"] = n
        zone = nodes.get(n, {}).get("metadata", {}).get("labels", {}).get("topology.kubernetes.io/zone")
        if zone:
            ep["zone"] = zone
    if svc_name and p["spec"].get("subdomain") == svc_name and p["spec"].get("hostname"):
        ep["hostname"] = p["spec"]["hostname"]
    return ep


def controller_slices(svc: Obj, pods: Iterable[Obj], nodes: dict[str, Obj], written: datetime, *,
                      max_per_slice: int = 100, trigger: datetime | None = None) -> list[Obj]:
    """The slices the EndpointSlice controller writes for a Service: per family, <= max endpoints each,
    a placeholder when empty. Pods must already be the selected ones."""
    name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    spec = svc["spec"]
    pnra = bool(spec.get("publishNotReadyAddresses"))
    families = spec.get("ipFamilies") or ["IPv4"]
    labels = {k: v for k, v in (svc["metadata"].get("labels") or {}).items()}
    labels["kubernetes.io/service-name"] = name
    labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io"
    if spec.get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    pods = [p for p in pods if p["status"].get("phase") not in ("Succeeded", "Failed")
            and p["status"].get("podIPs") and (pnra or p["spec"].get("nodeName") in nodes)]
    ports = [] if not spec.get("ports") else [
        {"name": pt.get("name", ""), "port": pt["targetPort"] if isinstance(pt.get("targetPort"), int) else 8080,
         "protocol": pt.get("protocol", "TCP")} for pt in spec["ports"]]
    out = []
    for fam in families:
        eps = []
        for p in pods:
            ip = next((x["ip"] for x in p["status"]["podIPs"] if _family(x["ip"]) == fam), None)
            if ip is not None:
                eps.append(endpoint_for(p, ip, nodes=nodes, pnra=pnra, svc_name=name))
        chunks = [eps[i:i + max_per_slice] for i in range(0, len(eps), max_per_slice)] or [[]]
        for i, chunk in enumerate(chunks):
            svc_uid = svc["metadata"]["uid"]
            sname = f"{name}-{suffix(f'{ns}/{name}/{fam}/{i}/{svc_uid}')}"
            ann = {"endpoints.kubernetes.io/last-change-trigger-time": ts(trigger or written)}
            out.append({
                "kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                "metadata": meta(sname, ns, written, labels=labels, annotations=ann,
                                 owners=[owner("Service", svc)], generate_name=f"{name}-",
                                 seed=f"{ns}/{sname}/{ts(written)}"),
                "addressType": fam, "endpoints": chunk, "ports": ports if chunk or spec.get("ports") else [],
            })
    return out


def endpoints_object(svc: Obj, pods: Iterable[Obj], nodes: dict[str, Obj], written: datetime, *,
                     managed_label: bool = False) -> Obj:
    """The v1 Endpoints the Endpoints controller writes: first family only, terminating pods excluded."""
    name, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    spec = svc["spec"]
    pnra = bool(spec.get("publishNotReadyAddresses"))
    fam = (spec.get("ipFamilies") or ["IPv4"])[0]
    ready, not_ready = [], []
    for p in pods:
        if p["status"].get("phase") in ("Succeeded", "Failed") or not p["status"].get("podIPs"):
            continue
        if "deletionTimestamp" in p["metadata"] and not pnra:
            continue
        ip = next((x["ip"] for x in p["status"]["podIPs"] if _family(x["ip"]) == fam), None)
        if ip is None:
            continue
        addr: Obj = {"ip": ip, "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                              "uid": p["metadata"]["uid"]}}
        if p["spec"].get("nodeName"):
            addr["nodeName"] = p["spec"]["nodeName"]
        rc = next((c for c in p["status"].get("conditions", []) if c["type"] == "Ready"), None)
        (ready if pnra or (rc and rc["status"] == "True") else not_ready).append(addr)
    labels = dict(svc["metadata"].get("labels") or {})
    if spec.get("clusterIP") == "None":
        labels["service.kubernetes.io/headless"] = ""
    if managed_label:
        labels["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
    subsets = []
    if ready or not_ready:
        sub: Obj = {"ports": [{"name": pt.get("name", ""), "port": pt["targetPort"] if isinstance(
            pt.get("targetPort"), int) else 8080, "protocol": pt.get("protocol", "TCP")}
            for pt in spec.get("ports") or []]}
        if ready:
            sub["addresses"] = ready
        if not_ready:
            sub["notReadyAddresses"] = not_ready
        subsets.append(sub)
    out = {"kind": "Endpoints", "apiVersion": "v1",
           "metadata": meta(name, ns, written, labels=labels,
                            annotations={"endpoints.kubernetes.io/last-change-trigger-time": ts(written)},
                            seed=f"{ns}/{name}/endpoints/{ts(written)}")}
    if subsets:
        out["subsets"] = subsets
    return out


def apiserver_objects(created: datetime, ips: list[str]) -> list[Obj]:
    """default/kubernetes Service, Endpoints and slice as kube-apiserver writes them."""
    svc = {"kind": "Service", "apiVersion": "v1",
           "metadata": meta("kubernetes", "default", created, labels={"component": "apiserver",
                                                                       "provider": "kubernetes"}),
           "spec": {"clusterIP": "172.20.0.1", "clusterIPs": ["172.20.0.1"], "ipFamilies": ["IPv4"],
                    "ipFamilyPolicy": "SingleStack", "type": "ClusterIP",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}]},
           "status": {"loadBalancer": {}}}
    ep = {"kind": "Endpoints", "apiVersion": "v1",
          "metadata": meta("kubernetes", "default", created,
                           labels={"endpointslice.kubernetes.io/skip-mirror": "true"}, seed="default/kubernetes/ep"),
          "subsets": [{"addresses": [{"ip": ip} for ip in ips],
                       "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}]}
    slc = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
           "metadata": meta("kubernetes", "default", created, labels={"kubernetes.io/service-name": "kubernetes"},
                            seed="default/kubernetes/slice"),
           "addressType": "IPv4",
           "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips],
           "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}
    return [svc, ep, slc]


def kubectl_list(objs: list[Obj]) -> Obj:
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": objs}


def snapshot_doc(objs: list[Obj], taken: datetime, *, label: str = "", server_version: str = "v1.30.4-eks-a737599",
                 context: str = "arn:aws:eks:eu-west-1:111122223333:cluster/demo", missing: list[Obj] | None = None,
                 eks: Obj | None = None) -> Obj:
    doc: Obj = {"apiVersion": "upgrade-auditor.io/v1", "kind": "ClusterSnapshot",
                "metadata": {"label": label, "takenAt": ts(taken), "startedAt": ts(taken - timedelta(seconds=5)),
                             "complete": not missing, "missing": missing or [],
                             # what a snapshot of this cluster read: the six kinds endpoints depend on, and the
                             # optional ones the objects include (as snapshot does when the cluster serves them)
                             "kinds": list(dict.fromkeys(["Namespace", "Node", "Pod", "Service", "Endpoints",
                                                          "EndpointSlice"] + [o["kind"] for o in objs])),
                             "source": {"context": context, "server": "https://ABCDEF0123456789.gr7.eu-west-1.eks.amazonaws.com",
                                        "serverVersion": {"major": "1", "minor": server_version.split(".")[1],
                                                          "gitVersion": server_version, "platform": "linux/amd64"},
                                        "namespaces": []}},
                "items": objs}
    if eks is not None:
        doc["eks"] = eks
    return doc


# Workloads (apps/v1, policy/v1, karpenter.sh/v1) around the Pods above

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
    """(Deployment, its current ReplicaSet), named as `replicaset_pod` names the Pods' owner."""
    ready = replicas if ready is None else ready
    rs_hash = suffix(f"{ns}/{name}/rs", 10)
    rs_name = f"{name}-{rs_hash}"
    dep = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {**meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/deployment"),
                        "generation": 1, "annotations": {"deployment.kubernetes.io/revision": "1"}},
           "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%",
                                                                            "maxUnavailable": "25%"}},
                    "template": _template(labels, probe=probe)},
           "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                      "readyReplicas": ready, "availableReplicas": ready}}
    rs_labels = {**labels, "pod-template-hash": rs_hash}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
          "metadata": {**meta(rs_name, ns, created, labels=rs_labels, seed=f"{ns}/{rs_name}",
                              owners=[owner("Deployment", dep, "apps/v1")]),
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
            "metadata": {**meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/statefulset"),
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
    p = pod(f"{name}-{ordinal}", ns, created, labels=labels, node_name=node_name, ips=[ip],
            owner_ref=owner("StatefulSet", sts, "apps/v1"), generate_name=f"{name}-",
            hostname=f"{name}-{ordinal}", subdomain=sts["spec"]["serviceName"])
    return with_probe(p)


def daemonset(name: str, ns: str, created: datetime, *, labels: dict[str, str], nodes: int) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {**meta(name, ns, created, labels=labels, seed=f"{ns}/{name}/daemonset"),
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
    p = pod(f"{name}-{suffix(node_name)}", ns, created, labels=labels, node_name=node_name, ips=[ip],
            owner_ref=owner("DaemonSet", ds, "apps/v1"), generate_name=f"{name}-", host_network=host_network)
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
    t = ts(created + timedelta(seconds=5))
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {**meta(name, ns, created, seed=f"{ns}/{name}/pdb"), "generation": 1},
            "spec": spec,
            "status": {"observedGeneration": 1, "expectedPods": expected, "currentHealthy": healthy,
                       "desiredHealthy": desired, "disruptionsAllowed": allowed,
                       "conditions": [{"type": "DisruptionAllowed", "status": "True" if allowed else "False",
                                       "reason": "SufficientPods" if allowed else "InsufficientPods",
                                       "message": "", "observedGeneration": 1, "lastTransitionTime": t}]}}


def nodepool(name: str, created: datetime) -> Obj:
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {**meta(name, None, created, seed=f"nodepool/{name}"), "generation": 1,
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
                                       "lastTransitionTime": ts(created)}]}}


def nodeclaim(pool: str, node: Obj, created: datetime, *, drifted: bool) -> Obj:
    node_name = node["metadata"]["name"]
    name = f"{pool}-{suffix(node_name)}"
    conds = [{"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": ts(created)}
             for t in ("Launched", "Registered", "Initialized", "Ready")]
    if drifted:
        conds.append({"type": "Drifted", "status": "True", "reason": "AMIDrift", "message": "",
                      "lastTransitionTime": ts(created + timedelta(days=1))})
    return {"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {**meta(name, None, created, labels={"karpenter.sh/nodepool": pool,
                                                             "karpenter.k8s.aws/ec2nodeclass": "default"},
                                seed=f"nodeclaim/{name}"),
                         "finalizers": ["karpenter.sh/termination"]},
            "spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                     "requirements": [{"key": "karpenter.sh/nodepool", "operator": "In", "values": [pool]}],
                     "expireAfter": "720h"},
            "status": {"nodeName": node_name, "providerID": node["spec"]["providerID"],
                       "imageID": "ami-0a1b2c3d4e5f60718", "conditions": conds}}


# Cluster states from API-shaped objects (rule cases and unit tests)

def kube_object(raw: Obj) -> KubeObject:
    """One API-shaped object as the auditor reads it."""
    return msgspec.convert(raw, KubeObject, str_keys=True)


def state_from(spec: dict[str, Any], label: str = "") -> ClusterState:
    """spec: {takenAt, serverVersion?, eks?, objects: [...], missing?: [{kind, reason, permission}], kinds?,
    consistent?, kindReads?: {kind: [start, end]}, timeline?: {from, to, services: [{namespace, name, readyBefore,
    samples: [[time, ready], ...], deletedAt?}]}} (what verify observed, for service-outage)"""
    objects: dict[str, list[KubeObject]] = {k: [] for k in registry.ALL}
    for raw in spec.get("objects") or []:
        obj = kube_object(raw)
        objects.setdefault(obj.kind, []).append(obj)
    taken = parse_time(str(spec["takenAt"]))
    assert taken is not None, "case state needs takenAt"
    missing = [MissingResource(kind=m["kind"], reason=m.get("reason", "forbidden"),
                               permission=m.get("permission", ""), namespace=m.get("namespace", ""))
               for m in spec.get("missing") or []]
    kinds = set(spec.get("kinds") or registry.ALL)
    present = {k for k in kinds if k not in {m.kind for m in missing}}
    info = InputInfo(path=f"<case {label}>", label=label, taken_at=str(spec["takenAt"]), complete=not missing)
    reads = {}
    for kind, (start, end) in (spec.get("kindReads") or {}).items():
        t0, t1 = parse_time(str(start)), parse_time(str(end))
        assert t0 is not None and t1 is not None
        reads[kind] = (t0, t1)
    return ClusterState(objects=objects, taken_at=taken, inputs=[info], present=present, missing=missing,
                        server_version=spec.get("serverVersion"), eks=spec.get("eks"), label=label,
                        consistent=bool(spec.get("consistent", True)), kind_reads=reads,
                        timeline=_timeline(spec["timeline"]) if spec.get("timeline") else None)


def _epoch(text: Any) -> float:
    t = parse_time(str(text))
    assert t is not None, f"not a time: {text!r}"
    return t.timestamp()


def _timeline(spec: dict[str, Any]) -> Timeline:
    tl = Timeline(start=_epoch(spec["from"]), end=_epoch(spec["to"]))
    for s in spec.get("services") or []:
        key = (s["namespace"], s["name"])
        for when, ready in s["samples"]:
            tl.observe(key, _epoch(when), int(ready), int(s["readyBefore"]))
        if s.get("deletedAt"):
            tl.deleted(key, _epoch(s["deletedAt"]))
    tl.end = _epoch(spec["to"])
    return tl
