"""What the rotation rules share: the plan for a rule's options, each Service's ready backends (one per Pod),
and the fix commands built from the real names. Pure; memoised per index."""
from __future__ import annotations

from typing import Iterable, NamedTuple

import msgspec
from auditor.rules.base import Context, RuleNotRun

from auditor.analysis.desired import service_ready_endpoints
from auditor.analysis.index import ClusterIndex
from auditor.analysis.plan import PlanGroup, RotationPlan, plan_of
from auditor.analysis.workloads import Workload, workload_of
from auditor.facts import fixcmd
from auditor.facts.pods import pod_terminal
from auditor.facts.services import find_port, is_external_name
from auditor.facts.workloads import controller_of, follows_node
from auditor.state.labels import LABEL_ZONE
from auditor.state.objects import KubeObject, service_selector

NO_PLAN = "no rotation plan: pass --target-version or --rotating"
PROBE_DOCS = "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/"
MAX_LISTED = 20
#: what the rotation rules about Services read; a state without one of them is incomplete and they do not run
SERVICE_KINDS = ("Node", "Pod", "Service", "EndpointSlice")


def plan_for(ctx: Context, *, required: bool = True) -> RotationPlan:
    """The rotation plan of the rule's options (one per index); RuleNotRun when nothing says what rotates."""
    plan = plan_of(ctx.index, ctx.options.target_version, ctx.options.rotating)
    if required and not plan.decided:
        raise RuleNotRun(NO_PLAN)
    return plan


class Backend(msgspec.Struct, frozen=True, gc=False):
    """One Pod behind a Service's ready endpoints (a dual-stack Pod has one endpoint per family). A msgspec
    Struct: one per ready Pod of the cluster, created in a fraction of a NamedTuple's time."""

    pod: KubeObject
    node: str
    zone: str
    addresses: tuple[str, ...]
    #: evicted by a drain: not a DaemonSet or static Pod (they follow the node), not already terminating
    movable: bool

    @property
    def name(self) -> str:
        return f"{self.pod.namespace}/{self.pod.name}"


class Backends(NamedTuple):
    service: KubeObject
    pods: tuple[Backend, ...]
    #: ready endpoints whose Pod is not in the state (stale, or not a Pod): the rules cannot judge the Service
    unknown: int


def _backends(index: ClusterIndex, svc: KubeObject) -> Backends:
    ns = svc.namespace
    pods = index.pods
    nodes = index.nodes
    found: dict[str, Backend] = {}
    unknown = 0
    for address, ep_node, zone, pod_uid, name in service_ready_endpoints(index, ns, svc.name).values():
        pod = pods.get((ns, name)) if name else None
        if pod is None or (pod_uid and pod_uid != pod.metadata.uid and pod.metadata.uid) or pod_terminal(pod):
            unknown += 1
            continue
        seen = found.get(name)
        if seen is not None:  # the Pod's other family (dual-stack)
            found[name] = msgspec.structs.replace(seen, addresses=tuple(sorted((*seen.addresses, address))))
            continue
        spec = pod.spec
        node = (spec.node_name if spec is not None else "") or ep_node
        if not zone:
            n = nodes.get(node)
            zone = n.labels.get(LABEL_ZONE, "") if n is not None else ""
        found[name] = Backend(pod, node, zone, (address,),
                              pod.metadata.deletion_timestamp is None and not follows_node(pod))
    return Backends(svc, tuple(found[k] for k in sorted(found)), unknown)


def candidates(index: ClusterIndex) -> list[KubeObject]:
    """The Services the rotation rules judge, sorted: all but the apiserver's `default/kubernetes` (not a
    workload) and ExternalName ones (no endpoints)."""
    hit: list[KubeObject] | None = index.cache.get("rotation-candidates")
    if hit is None:
        hit = index.cache["rotation-candidates"] = [
            svc for (ns, name), svc in sorted(index.services.items())
            if (ns, name) != ("default", "kubernetes") and not is_external_name(svc)]
    return hit


def backends(index: ClusterIndex, svc: KubeObject) -> Backends:
    memo: dict[tuple[str, str], Backends] = index.cache.setdefault("rotation-backends", {})
    key = (svc.namespace, svc.name)
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = _backends(index, svc)
    return hit


def services(index: ClusterIndex) -> list[Backends]:
    """Every candidate Service with ready Pod endpoints and its backends; computed once per index for all the
    rotation rules."""
    hit: list[Backends] | None = index.cache.get("rotation-services")
    if hit is None:
        hit = index.cache["rotation-services"] = [b for svc in candidates(index) if (b := backends(index, svc)).pods]
    return hit


def services_of_pod(index: ClusterIndex, pod: KubeObject) -> list[str]:
    """`ns/name` of the Services whose ready endpoints include this Pod (one pass over `services`)."""
    by_pod: dict[tuple[str, str], list[str]] | None = index.cache.get("rotation-services-by-pod")
    if by_pod is None:
        by_pod = index.cache["rotation-services-by-pod"] = {}
        for b in services(index):
            sid = f"{b.service.namespace}/{b.service.name}"
            for x in b.pods:
                by_pod.setdefault((x.pod.namespace, x.pod.name), []).append(sid)
    return by_pod.get((pod.namespace, pod.name), [])


def one_zone(index: ClusterIndex, svc: KubeObject) -> str | None:
    """The one zone all of a Service's ready endpoints are in (slice zone, else the Node's label); None when
    they span several, or one has no known zone. Cheap: reads the ready endpoints only."""
    zone = None
    nodes = index.nodes
    for ep in service_ready_endpoints(index, svc.namespace, svc.name).values():
        z = ep.zone
        if not z:
            n = nodes.get(ep.node)
            z = n.labels.get(LABEL_ZONE, "") if n is not None else ""
        if not z or (zone is not None and z != zone):
            return None
        zone = z
    return zone


def rotating(plan: RotationPlan, b: Backend) -> PlanGroup | None:
    return plan.group_of(b.node)


# -- evidence and messages ------------------------------------------------------------------------------

def names(items: Iterable[str]) -> list[str]:
    return sorted(set(items))[:MAX_LISTED]


def groups_text(groups: Iterable[PlanGroup]) -> str:
    return ", ".join(sorted({g.label for g in groups}))


def workloads_of(index: ClusterIndex, pods: Iterable[KubeObject]) -> list[Workload]:
    seen: dict[tuple[str, str], Workload] = {}
    asked: set[tuple[str, str, str]] = set()
    for p in pods:
        # a workload is memoised by its controller (`workload_of`): the Pods of one ReplicaSet are asked for once
        ref = controller_of(p)
        if ref is not None:
            key = (p.metadata.namespace, ref.kind, ref.name)
            if key in asked:
                continue
            asked.add(key)
        w = workload_of(index, p)
        seen.setdefault((w.kind, w.name), w)
    return [seen[k] for k in sorted(seen)]


def workload_text(ws: list[Workload]) -> str:
    if not ws:
        return ""
    shown = [f"{w.kind} {w.name}" + (f", {plural(w.replicas, 'replica')}" if w.replicas is not None else "")
             for w in ws[:3]]
    return "; ".join(shown) + (f" and {len(ws) - 3} more" if len(ws) > 3 else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def drain_consequence(groups: Iterable[PlanGroup]) -> str:
    """What each kind of rotation does when an eviction is refused (EKS managed node group update behaviour,
    Karpenter's disruption docs)."""
    kinds = {g.kind for g in groups}
    parts = []
    if "eks-nodegroup" in kinds:
        parts.append("the managed node group update retries the eviction for 15 minutes per node and then fails "
                     "with PodEvictionFailure (unless forced, which ignores PDBs)")
    if "karpenter-nodepool" in kinds:
        parts.append("Karpenter leaves the node draining indefinitely (its termination evicts through the "
                     "Eviction API, which respects PDBs)")
    if "unmanaged" in kinds:
        parts.append("kubectl drain retries the eviction until its --timeout (forever by default)")
    return "; ".join(parts)


def pdb_selector(index: ClusterIndex, svc: KubeObject, ws: list[Workload]) -> dict[str, str]:
    """Labels a new PDB should select: the one workload's matchLabels, else the Service's selector."""
    if len(ws) == 1 and ws[0].match_labels:
        return ws[0].match_labels
    return service_selector(svc)


def scale_fix(ws: list[Workload], replicas: int) -> list[str]:
    """Scale each scalable workload that wants fewer than `replicas` (or an unknown number) up to `replicas`."""
    return [fixcmd.scale(w.kind, w.name, w.namespace, replicas) for w in ws
            if w.scalable and (w.replicas is None or w.replicas < replicas)]


def readiness_probe_fix(index: ClusterIndex, svc: KubeObject, w: Workload, pod: KubeObject) -> list[str]:
    """A tcpSocket readiness probe on the container that serves the Service's first port (the least a probe
    can check), as a JSON patch of the workload's Pod template; the docs for a real one."""
    if not w.scalable or pod.spec is None or not pod.spec.containers or svc.spec is None or not svc.spec.ports:
        return []
    port = find_port(pod, svc.spec.ports[0])
    if port is None:
        return []
    for i, c in enumerate(pod.spec.containers):
        if any(cp.container_port == port for cp in c.ports or ()):
            path = f"/spec/template/spec/containers/{i}/readinessProbe"
            return [fixcmd.patch_json(w.kind, w.name, w.namespace, [
                {"op": "add", "path": path, "value": {"tcpSocket": {"port": port}, "periodSeconds": 5}}])]
    return []


def spread_fix(w: Workload) -> list[str]:
    if not w.scalable or not w.match_labels:
        return []
    constraint = {"maxSkew": 1, "topologyKey": LABEL_ZONE, "whenUnsatisfiable": "ScheduleAnyway",
                  "labelSelector": {"matchLabels": w.match_labels}}
    return [fixcmd.patch_merge(w.kind, w.name, w.namespace,
                               {"spec": {"template": {"spec": {"topologySpreadConstraints": [constraint]}}}})]


def readiness_checked(pod: KubeObject) -> bool:
    """A readiness or startup probe on any container or sidecar (restartable init container): the Pod's Ready
    waits for it when it starts. Without one, a started container is ready at once."""
    spec = pod.spec
    if spec is None:
        return False
    for c in spec.containers or ():
        if c.readiness_probe is not None or c.startup_probe is not None:
            return True
    for c in spec.init_containers or ():
        if c.restart_policy == "Always" and (c.readiness_probe is not None or c.startup_probe is not None):
            return True
    return False
