"""Generate the case files of the rotation rules (tests/rules/cases/<rule>.yaml) from the API-shaped builders.

Run from the repo root: `python tools/make_rotation_cases.py`. Every file shares one cluster, written once under
`x-objects` with named anchors: control plane 1.31 (the blue/green migration half done), node group ng-blue
(kubelet 1.30, below the target 1.31: rotating) and ng-green (1.31: staying), a Fargate node, a Karpenter node,
and the workloads behind Services in namespaces shop and search. The cases list the objects they use.
"""
from __future__ import annotations

import copy
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import builders as b  # noqa: E402

Obj = dict[str, Any]
TAKEN = "2026-11-20T10:00:00Z"
T = b.at(TAKEN)
DAYS = timedelta(days=1)
SERVER = "v1.31.2-eks-7f9249a"
K130, K131 = "v1.30.4-eks-a737599", "v1.31.2-eks-7f9249a"
OPTS = {"target_version": "1.31"}

X: dict[str, Obj] = {}


def named(name: str, obj: Obj) -> Obj:
    X[name] = json.loads(json.dumps(obj))  # no shared sub-objects: each anchor is one whole object
    return X[name]


def _node(name: str, zone: str, kubelet: str, ip: str, **kw: Any) -> Obj:
    return b.node(name, T - 20 * DAYS, zone=zone, kubelet=kubelet, ip=ip, heartbeat=T - timedelta(seconds=20), **kw)


NB1 = named("node-blue-a", _node("ip-10-0-1-17.eu-west-1.compute.internal", "eu-west-1a", K130, "10.0.1.17",
                                 nodegroup="ng-blue"))
NB2 = named("node-blue-b", _node("ip-10-0-2-18.eu-west-1.compute.internal", "eu-west-1b", K130, "10.0.2.18",
                                 nodegroup="ng-blue"))
NG1 = named("node-green-a", _node("ip-10-0-1-40.eu-west-1.compute.internal", "eu-west-1a", K131, "10.0.1.40",
                                  nodegroup="ng-green"))
NG2 = named("node-green-b", _node("ip-10-0-2-41.eu-west-1.compute.internal", "eu-west-1b", K131, "10.0.2.41",
                                  nodegroup="ng-green"))
_fg = _node("fargate-ip-10-0-3-9.eu-west-1.compute.internal", "eu-west-1c", "v1.30.4-eks-fargate", "10.0.3.9")
_fg["metadata"]["labels"].pop("node.kubernetes.io/instance-type")
_fg["metadata"]["labels"]["eks.amazonaws.com/compute-type"] = "fargate"
FG = named("node-fargate", _fg)
KP = named("node-karpenter", _node("ip-10-0-4-50.eu-west-1.compute.internal", "eu-west-1c", K131, "10.0.4.50",
                                   nodepool="default"))
NODES = {n["metadata"]["name"]: n for n in (NB1, NB2, NG1, NG2, FG, KP)}
ALL_NODES = [NB1, NB2, NG1, NG2, FG, KP]


def name_of(n: Obj) -> str:
    return str(n["metadata"]["name"])


def ip_of(n: Obj) -> str:
    return str(n["status"]["addresses"][0]["address"])


def _on(p: Obj, node: Obj) -> Obj:
    p["status"]["hostIP"] = ip_of(node)
    return p


def dpod(deploy: str, ns: str, i: int, node: Obj, ip: str, *, probe: bool = True, ready: bool = True,
         startup: bool = False, seed: str = "") -> Obj:
    p = b.replicaset_pod(deploy, ns, i, T - 2 * DAYS, labels={"app": deploy}, node_name=name_of(node), ips=[ip],
                         ready=ready, seed=seed)
    return _on(b.with_probe(p, probe, startup=startup), node)


def svc(name: str, ns: str, ip: str, *, selector: dict[str, str] | None = None, **kw: Any) -> Obj:
    return b.service(name, ns, T - 30 * DAYS, selector=selector or {"app": name}, cluster_ip=ip,
                     ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}], **kw)


def slices(service: Obj, pods: list[Obj]) -> list[Obj]:
    return b.controller_slices(service, pods, NODES, T - DAYS)


def app(prefix: str, service: Obj, pods: list[Obj], *extra: Obj) -> list[Obj]:
    """A Service, its Pods, its slices and Endpoints, and its workload objects, each under an anchor."""
    out = [named(f"svc-{prefix}", service)]
    for i, p in enumerate(pods):
        out.append(named(f"pod-{prefix}-{i + 1}", p))
    for i, s in enumerate(slices(service, pods)):
        out.append(named(f"slice-{prefix}" + (f"-{i + 1}" if i else ""), s))
    out.append(named(f"ep-{prefix}", b.endpoints_object(service, pods, NODES, T - DAYS)))
    for e in extra:
        out.append(named(f"{e['kind'].lower()}-{prefix}-{e['metadata']['name']}"
                         if e["kind"] not in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet")
                         else f"{e['kind'].lower()}-{prefix}", e))
    return out


NS = [named("ns-shop", b.namespace("shop", T - 90 * DAYS)), named("ns-search", b.namespace("search", T - 90 * DAYS)),
      named("ns-monitoring", b.namespace("monitoring", T - 90 * DAYS))]
BASE = [*NS, *ALL_NODES]

# search/query-api: one replica on ng-blue
QA_DEP, QA_RS = b.deployment("query-api", "search", T - 30 * DAYS, replicas=1, labels={"app": "query-api"})
QUERY_API = app("query-api", svc("query-api", "search", "172.20.12.4"),
                [dpod("query-api", "search", 0, NB1, "10.0.1.101")], QA_DEP, QA_RS)
# shop/catalog: two replicas, both on ng-blue (two zones)
CAT_DEP, CAT_RS = b.deployment("catalog", "shop", T - 30 * DAYS, replicas=2, labels={"app": "catalog"})
CATALOG = app("catalog", svc("catalog", "shop", "172.20.30.7"),
              [dpod("catalog", "shop", 0, NB1, "10.0.1.111"), dpod("catalog", "shop", 1, NB2, "10.0.2.112")],
              CAT_DEP, CAT_RS)
# shop/checkout: two replicas, one on ng-blue and one on ng-green
CO_DEP, CO_RS = b.deployment("checkout", "shop", T - 30 * DAYS, replicas=2, labels={"app": "checkout"})
CHECKOUT = app("checkout", svc("checkout", "shop", "172.20.30.9"),
               [dpod("checkout", "shop", 0, NB1, "10.0.1.121"), dpod("checkout", "shop", 1, NG2, "10.0.2.122")],
               CO_DEP, CO_RS)
# shop/recommendations: two replicas on ng-blue, no readiness probe
RE_DEP, RE_RS = b.deployment("recommendations", "shop", T - 30 * DAYS, replicas=2,
                             labels={"app": "recommendations"}, probe=False)
RECOMMENDATIONS = app("recommendations", svc("recommendations", "shop", "172.20.30.11"),
                      [dpod("recommendations", "shop", 0, NB1, "10.0.1.131", probe=False),
                       dpod("recommendations", "shop", 1, NB2, "10.0.2.132", probe=False)], RE_DEP, RE_RS)
# shop/search-ui: two replicas on ng-blue with only a startup probe
SU_DEP, SU_RS = b.deployment("search-ui", "shop", T - 30 * DAYS, replicas=2, labels={"app": "search-ui"},
                             probe=False)
SEARCH_UI = app("search-ui", svc("search-ui", "shop", "172.20.30.13"),
                [dpod("search-ui", "shop", 0, NB1, "10.0.1.141", probe=False, startup=True),
                 dpod("search-ui", "shop", 1, NB2, "10.0.2.142", probe=False, startup=True)], SU_DEP, SU_RS)
# shop/fraud-check: two replicas both in eu-west-1a (one ng-blue, one ng-green)
FC_DEP, FC_RS = b.deployment("fraud-check", "shop", T - 30 * DAYS, replicas=2, labels={"app": "fraud-check"})
FRAUD = app("fraud-check", svc("fraud-check", "shop", "172.20.30.15"),
            [dpod("fraud-check", "shop", 0, NB1, "10.0.1.151"), dpod("fraud-check", "shop", 1, NG1, "10.0.1.152")],
            FC_DEP, FC_RS)
# monitoring/node-exporter: a hostNetwork DaemonSet on both ng-blue nodes, behind a Service
NE_DS = b.daemonset("node-exporter", "monitoring", T - 60 * DAYS, labels={"app": "node-exporter"}, nodes=2)
NODE_EXPORTER = app("node-exporter", b.service("node-exporter", "monitoring", T - 60 * DAYS,
                                               selector={"app": "node-exporter"}, cluster_ip="172.20.50.3",
                                               ports=[{"name": "metrics", "port": 9100, "protocol": "TCP",
                                                       "targetPort": 9100}]),
                    [_on(b.daemonset_pod(NE_DS, name_of(NB1), T - 20 * DAYS, ip=ip_of(NB1), host_network=True), NB1),
                     _on(b.daemonset_pod(NE_DS, name_of(NB2), T - 20 * DAYS, ip=ip_of(NB2), host_network=True), NB2)],
                    NE_DS)
# search/suggest: one replica on Fargate
SG_DEP, SG_RS = b.deployment("suggest", "search", T - 30 * DAYS, replicas=1, labels={"app": "suggest"}, probe=False)
SUGGEST = app("suggest", svc("suggest", "search", "172.20.12.8"),
              [dpod("suggest", "search", 0, FG, "10.0.3.9", probe=False)], SG_DEP, SG_RS)
# search/debug: a bare Pod (no controller) on ng-blue
BARE = app("debug", svc("debug", "search", "172.20.12.14"),
           [_on(b.with_probe(b.pod("debug-shell", "search", T - DAYS, labels={"app": "debug"}, node_name=name_of(NB2),
                                   ips=["10.0.2.191"])), NB2)])
# search/redis: a StatefulSet of 2 on ng-blue behind a headless publishNotReadyAddresses Service, and redis-ro (a
# plain Service on the same Pods)
REDIS_STS = b.statefulset("redis", "search", T - 40 * DAYS, replicas=2, labels={"app": "redis"}, service="redis")
_redis_pods = [_on(b.statefulset_pod(REDIS_STS, 0, T - 3 * DAYS, node_name=name_of(NB1), ip="10.0.1.161"), NB1),
               _on(b.statefulset_pod(REDIS_STS, 1, T - 3 * DAYS, node_name=name_of(NB2), ip="10.0.2.162"), NB2)]
for _p in _redis_pods:
    del _p["spec"]["containers"][0]["readinessProbe"]
REDIS = app("redis", b.service("redis", "search", T - 40 * DAYS, selector={"app": "redis"}, headless=True, pnra=True,
                               ports=[{"name": "redis", "port": 6379, "protocol": "TCP", "targetPort": 6379}]),
            _redis_pods, REDIS_STS)
REDIS_RO = [named("svc-redis-ro", svc("redis-ro", "search", "172.20.12.9", selector={"app": "redis"})),
            *(named(f"slice-redis-ro{'-' + str(i + 1) if i else ''}", s)
              for i, s in enumerate(slices(X["svc-redis-ro"], [X["pod-redis-1"], X["pod-redis-2"]])))]
# search/ranker: a StatefulSet of one on ng-blue
RK_STS = b.statefulset("ranker", "search", T - 40 * DAYS, replicas=1, labels={"app": "ranker"}, service="ranker")
RANKER = app("ranker", svc("ranker", "search", "172.20.12.12"),
             [_on(b.statefulset_pod(RK_STS, 0, T - 3 * DAYS, node_name=name_of(NB1), ip="10.0.1.171"), NB1)], RK_STS)
# payments/ledger on the Karpenter node (only drift rotates it)
LEDGER_NS = named("ns-payments", b.namespace("payments", T - 90 * DAYS))
LG_DEP, LG_RS = b.deployment("ledger", "payments", T - 30 * DAYS, replicas=2, labels={"app": "ledger"})
LEDGER = app("ledger", svc("ledger", "payments", "172.20.40.5"),
             [dpod("ledger", "payments", 0, KP, "10.0.4.181"), dpod("ledger", "payments", 1, NG2, "10.0.2.182")],
             LG_DEP, LG_RS)
POOL = named("nodepool-default", b.nodepool("default", T - 60 * DAYS))
CLAIM_DRIFTED = named("nodeclaim-drifted", b.nodeclaim("default", KP, T - 20 * DAYS, drifted=True))
CLAIM = copy.deepcopy(CLAIM_DRIFTED)
CLAIM["status"]["conditions"] = CLAIM["status"]["conditions"][:-1]
CLAIM = named("nodeclaim", CLAIM)
API = [named(f"apiserver-{o['kind'].lower()}", o)
       for o in b.apiserver_objects(T - 90 * DAYS, ["10.0.0.55", "10.0.1.66"])]


def pdb(name: str, ns: str, app_label: str, **kw: Any) -> Obj:
    return named(f"pdb-{name}", b.pdb(name, ns, T - 10 * DAYS, selector={"app": app_label}, **kw))


PDB_CAT_OK = pdb("catalog", "shop", "catalog", max_unavailable=1, expected=2, healthy=2, desired=1, allowed=1)
PDB_CAT_ALL = pdb("catalog-all", "shop", "catalog", max_unavailable="100%", expected=2, healthy=2, desired=0,
                  allowed=2)
PDB_CAT_HALF = pdb("catalog-half", "shop", "catalog", max_unavailable="50%", expected=2, healthy=2, desired=1,
                   allowed=1)
PDB_CAT_MIN0 = pdb("catalog-min0", "shop", "catalog", min_available="0%", expected=2, healthy=2, desired=0,
                   allowed=2)
PDB_CAT_MIN2 = pdb("catalog-strict", "shop", "catalog", min_available=2, expected=2, healthy=2, desired=2,
                   allowed=0)
PDB_CAT_MAX0 = pdb("catalog-max0", "shop", "catalog", max_unavailable="0%", expected=2, healthy=2, desired=2,
                   allowed=0)
PDB_CAT_100 = pdb("catalog-all-min", "shop", "catalog", min_available="100%", expected=2, healthy=2, desired=2,
                  allowed=0)
PDB_REDIS = pdb("redis", "search", "redis", max_unavailable=0, expected=2, healthy=2, desired=2, allowed=0)
PDB_NE = pdb("node-exporter", "monitoring", "node-exporter", max_unavailable=0, expected=2, healthy=2, desired=2,
             allowed=0)
PDB_CHECKOUT = pdb("checkout", "shop", "checkout", min_available=1, expected=2, healthy=1, desired=1, allowed=0)
PDB_CHECKOUT_STRICT = pdb("checkout-strict", "shop", "checkout", min_available=2, expected=2, healthy=1, desired=2,
                          allowed=0)
PDB_LEDGER = pdb("ledger", "payments", "ledger", min_available=2, expected=2, healthy=2, desired=2, allowed=0)
PDB_SUGGEST = pdb("suggest", "search", "suggest", max_unavailable=0, expected=1, healthy=1, desired=1, allowed=0)


def unready(p: Obj) -> Obj:
    """The same Pod, not Ready (its readiness probe failing), as a variant object."""
    q = copy.deepcopy(p)
    for c in q["status"]["conditions"]:
        if c["type"] in ("Ready", "ContainersReady"):
            c["status"] = "False"
            c["lastTransitionTime"] = b.ts(T - timedelta(hours=1))
    return q


def state(*objs: Obj | list[Obj], kinds: list[str] | None = None, eks: Obj | None = None) -> Obj:
    flat: list[Obj] = []
    for o in objs:
        flat += o if isinstance(o, list) else [o]
    out: Obj = {"takenAt": TAKEN, "serverVersion": SERVER, "objects": flat}
    if kinds:
        out["kinds"] = kinds
    if eks:
        out["eks"] = eks
    return out


NO_PDB_KINDS = ["Namespace", "Node", "Pod", "Service", "Endpoints", "EndpointSlice", "Deployment", "ReplicaSet",
                "StatefulSet", "DaemonSet"]


def case(name: str, st: Obj, expect: list[Obj] | None = None, *, options: Obj | None = OPTS,
         not_run: str | None = None) -> Obj:
    c: Obj = {"name": name}
    if options:
        c["options"] = options
    c["state"] = st
    if not_run:
        c["not_run"] = not_run
    else:
        c["expect"] = expect or []
    return c


class _Dumper(yaml.SafeDumper):
    """Anchors named after X's keys (PyYAML would call them id001...)."""

    def generate_anchor(self, node: yaml.Node) -> str:
        for key, obj in X.items():
            if self.represented_objects.get(id(obj)) is node:  # type: ignore[attr-defined]
                return key
        return super().generate_anchor(node)  # type: ignore[no-any-return]

    def ignore_aliases(self, data: Any) -> bool:
        return not isinstance(data, dict) or not any(data is o for o in X.values())


def write(rule: str, header: str, cases: list[Obj]) -> None:
    used: dict[str, Obj] = {}
    for c in cases:
        for o in c["state"]["objects"]:
            for k, v in X.items():
                if v is o:
                    used[k] = v
    ordered = {k: X[k] for k in X if k in used}
    doc = {"rule": rule, "x-objects": ordered, "cases": cases}
    text = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, width=120, default_flow_style=False)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.strip().splitlines())
    path = ROOT / "tests" / "rules" / "cases" / f"{rule}.yaml"
    path.write_text("# Generated by tools/make_rotation_cases.py; edit that and run it again.\n" + comment + text)


EKS_HEADER = """Cluster: control plane 1.31; node groups ng-blue (kubelet 1.30, rotating against the target 1.31) and
ng-green (1.31); a Fargate node; a Karpenter node of pool default (1.31: rotates only when its NodeClaim drifted).
State taken 2026-11-20T10:00:00Z."""


def exp(kind: str, ns: str, name: str, severity: str, message: str | None = None, **evidence: Any) -> Obj:
    out: Obj = {"kind": kind, "namespace": ns, "name": name, "severity": severity}
    if message:
        out["message"] = message
    if evidence:
        out["evidence"] = evidence
    return out


def variant_slices(service: Obj, pods: list[Obj], *, zone: bool = True) -> list[Obj]:
    out = slices(service, pods)
    if not zone:
        for s_ in out:
            for e in s_["endpoints"]:
                e.pop("zone", None)
    return out


NO_PLAN = "no rotation plan"
NO_PDB = "the state has no PodDisruptionBudget"


def single_replica() -> list[Obj]:
    redis_one = [X["svc-redis"], X["pod-redis-1"], *variant_slices(X["svc-redis"], [X["pod-redis-1"]]), REDIS_STS]
    ne_one = [X["svc-node-exporter"], X["pod-node-exporter-1"],
              *variant_slices(X["svc-node-exporter"], [X["pod-node-exporter-1"]]), NE_DS]
    return [
        case("one Deployment Pod on a node of ng-blue (kubelet 1.30, target 1.31)", state(BASE, QUERY_API), [
            exp("Service", "search", "query-api", "warning", "one Pod",
                nodegroup="ng-blue", node=name_of(NB1), groupKind="eks-nodegroup",
                workload={"kind": "Deployment", "name": "query-api", "replicas": 1})]),
        case("a StatefulSet of one: the replacement comes only once the old Pod is gone", state(BASE, RANKER), [
            exp("Service", "search", "ranker", "warning", "only once the old Pod is gone",
                workload={"kind": "StatefulSet", "name": "ranker", "replicas": 1})]),
        case("--rotating names the group; no target version needed", state(BASE, QUERY_API), [
            exp("Service", "search", "query-api", "warning", "(ng-blue)", planReason="--rotating ng-blue")],
            options={"rotating": ["ng-blue"]}),
        case("a publishNotReadyAddresses Service with one Pod is judged like any other", state(BASE, redis_one), [
            exp("Service", "search", "redis", "warning", "one Pod, redis-0")]),
        case("a bare Pod: nothing recreates it", state(BASE, BARE), [
            exp("Service", "search", "debug", "warning", "no controller recreates a bare Pod",
                nodegroups=["ng-blue"])]),
        case("guard: two replicas", state(BASE, CATALOG)),
        case("guard: the Pod's node group is not rotating (--rotating ng-green)", state(BASE, QUERY_API),
             options={"rotating": ["ng-green"]}),
        case("guard: a DaemonSet Pod (hostNetwork) follows its node", state(BASE, ne_one)),
        case("guard: a Pod on Fargate is never on a rotating node", state(BASE, SUGGEST)),
        case("guard: the apiserver's default/kubernetes Service", state(BASE, API)),
        case("guard: a target every node already runs: nothing rotates, the rule ran",
             state(NS, NG1, NG2, QUERY_API[0], *QUERY_API[2:]), options={"target_version": "1.31"}),
        case("not run: no target version and no --rotating", state(BASE, QUERY_API), options=None,
             not_run=NO_PLAN),
    ]


def unprotected() -> list[Obj]:
    return [
        case("two replicas, both on ng-blue, no PodDisruptionBudget selects them", state(BASE, CATALOG), [
            exp("Service", "shop", "catalog", "error", "no PodDisruptionBudget selects their Pods",
                readyPods=2, nodegroups=["ng-blue"], pdbs=[],
                workloads=[{"kind": "Deployment", "name": "catalog", "replicas": 2}])]),
        case("the PDB allows losing all of them (maxUnavailable 100%)", state(BASE, CATALOG, PDB_CAT_ALL), [
            exp("Service", "shop", "catalog", "error", "catalog-all (maxUnavailable 100%)",
                pdbs=[{"name": "catalog-all", "desiredHealthy": 0, "expectedPods": 2}])]),
        case("the PDB allows losing all of them (minAvailable 0%)", state(BASE, CATALOG, PDB_CAT_MIN0), [
            exp("Service", "shop", "catalog", "error", "minAvailable 0%")]),
        case("StatefulSet Pods behind a plain Service", state(BASE, REDIS[1:3], REDIS_STS, REDIS_RO), [
            exp("Service", "search", "redis-ro", "error", "StatefulSet redis",
                workloads=[{"kind": "StatefulSet", "name": "redis", "replicas": 2}])]),
        case("a publishNotReadyAddresses Service is judged like any other", state(BASE, REDIS), [
            exp("Service", "search", "redis", "error", "no PodDisruptionBudget")]),
        case("guard: a PDB with maxUnavailable 1 keeps one", state(BASE, CATALOG, PDB_CAT_OK)),
        case("guard: maxUnavailable 50% of 2 rounds up to 1: keeps one", state(BASE, CATALOG, PDB_CAT_HALF)),
        case("guard: a PDB that allows no disruption protects (pdb-blocks-drain reports it)",
             state(BASE, REDIS, PDB_REDIS)),
        case("guard: one of the two replicas runs on ng-green", state(BASE, CHECKOUT)),
        case("guard: DaemonSet Pods are not evicted by a drain", state(BASE, NODE_EXPORTER)),
        case("guard: the apiserver's default/kubernetes Service", state(BASE, API)),
        case("not run: the state has no PodDisruptionBudgets", state(BASE, CATALOG, kinds=NO_PDB_KINDS),
             not_run=NO_PDB),
        case("not run: no target version and no --rotating", state(BASE, CATALOG), options=None, not_run=NO_PLAN),
    ]


def blocks_drain() -> list[Obj]:
    co_unready = unready(X["pod-checkout-2"])
    checkout = [X["svc-checkout"], X["pod-checkout-1"], co_unready,
                *variant_slices(X["svc-checkout"], [X["pod-checkout-1"], co_unready]), CO_DEP, CO_RS]
    blue_unready = unready(X["pod-checkout-1"])
    checkout_blue_unready = [X["svc-checkout"], blue_unready, X["pod-checkout-2"],
                             *variant_slices(X["svc-checkout"], [blue_unready, X["pod-checkout-2"]]), CO_DEP, CO_RS]
    cat_unready = [unready(X["pod-catalog-1"]), unready(X["pod-catalog-2"])]
    always = copy.deepcopy(PDB_CAT_MIN2)
    always["spec"]["unhealthyPodEvictionPolicy"] = "AlwaysAllow"
    always["status"].update(currentHealthy=0, disruptionsAllowed=0)
    catalog_unready = [X["svc-catalog"], *cat_unready, *variant_slices(X["svc-catalog"], cat_unready), CAT_DEP, CAT_RS]
    return [
        case("minAvailable equal to the replicas (2 of 2), both on ng-blue", state(BASE, CATALOG, PDB_CAT_MIN2), [
            exp("PodDisruptionBudget", "shop", "catalog-strict", "error", "PodEvictionFailure",
                budget={"spec": "minAvailable 2", "expectedPods": 2, "desiredHealthy": 2, "disruptionsAllowed": 0},
                nodegroups=["ng-blue"], nodes=[name_of(NB1), name_of(NB2)], services=["shop/catalog"],
                workloads=[{"kind": "Deployment", "name": "catalog", "replicas": 2}])]),
        case("maxUnavailable 0%", state(BASE, CATALOG, PDB_CAT_MAX0), [
            exp("PodDisruptionBudget", "shop", "catalog-max0", "error", "maxUnavailable 0%: no Pod may be evicted")]),
        case("minAvailable 100%", state(BASE, CATALOG, PDB_CAT_100), [
            exp("PodDisruptionBudget", "shop", "catalog-all-min", "error", "minAvailable 100% keeps all 2")]),
        case("disruptionsAllowed 0 now: one of two Pods is unhealthy (minAvailable 1)",
             state(BASE, checkout, PDB_CHECKOUT), [
            exp("PodDisruptionBudget", "shop", "checkout", "error", "status.disruptionsAllowed is 0",
                pods=["shop/" + X["pod-checkout-1"]["metadata"]["name"]])]),
        case("a StatefulSet's PDB with maxUnavailable 0", state(BASE, REDIS, PDB_REDIS), [
            exp("PodDisruptionBudget", "search", "redis", "error", "maxUnavailable 0",
                workloads=[{"kind": "StatefulSet", "name": "redis"}])]),
        case("a Karpenter node whose NodeClaim drifted: Karpenter waits forever",
             state(BASE, LEDGER_NS, LEDGER, POOL, CLAIM_DRIFTED, PDB_LEDGER), [
            exp("PodDisruptionBudget", "payments", "ledger", "error", "Karpenter leaves the node draining",
                nodegroups=["karpenter:default"], nodes=[name_of(KP)])]),
        case("guard: a PDB that allows one disruption", state(BASE, CATALOG, PDB_CAT_OK)),
        case("guard: maxUnavailable 50% of 2 rounds up to 1", state(BASE, CATALOG, PDB_CAT_HALF)),
        case("guard: no Pod of the PDB on a rotating node (the NodeClaim has not drifted)",
             state(BASE, LEDGER_NS, LEDGER, POOL, CLAIM, PDB_LEDGER)),
        case("guard: DaemonSet Pods are not evicted by a drain", state(BASE, NODE_EXPORTER, PDB_NE)),
        case("guard: a Pod on Fargate is never on a rotating node", state(BASE, SUGGEST, PDB_SUGGEST)),
        case("guard: unhealthyPodEvictionPolicy AlwaysAllow and only unready Pods on rotating nodes",
             state(BASE, catalog_unready, always)),
        case("guard: IfHealthyBudget lets the unready Pod on ng-blue go: the budget is not disrupted",
             state(BASE, checkout_blue_unready, PDB_CHECKOUT)),
        case("IfHealthyBudget holds an unready Pod too while the budget is disrupted (1 healthy, 2 required)",
             state(BASE, checkout_blue_unready, PDB_CHECKOUT_STRICT), [
            exp("PodDisruptionBudget", "shop", "checkout-strict", "error", "minAvailable 2 keeps all 2",
                pods=["shop/" + X["pod-checkout-1"]["metadata"]["name"]], budget={"currentHealthy": 1})]),
        case("not run: the state has no PodDisruptionBudgets", state(BASE, CATALOG, kinds=NO_PDB_KINDS),
             not_run=NO_PDB),
        case("not run: no target version and no --rotating", state(BASE, CATALOG, PDB_CAT_MIN2), options=None,
             not_run=NO_PLAN),
    ]


def readiness() -> list[Obj]:
    return [
        case("two Deployment Pods on ng-blue without a readiness probe", state(BASE, RECOMMENDATIONS), [
            exp("Service", "shop", "recommendations", "warning", "all 2 of its ready Pods",
                nodegroups=["ng-blue"], workloads=[{"kind": "Deployment", "name": "recommendations"}])]),
        case("StatefulSet Pods without a readiness probe behind a plain Service",
             state(BASE, REDIS[1:3], REDIS_STS, REDIS_RO), [
            exp("Service", "search", "redis-ro", "warning", "StatefulSet redis")]),
        case("guard: Pods with a readiness probe", state(BASE, CATALOG)),
        case("guard: a startup probe alone gates readiness when the Pod starts", state(BASE, SEARCH_UI)),
        case("guard: publishNotReadyAddresses publishes them ready whatever the probes", state(BASE, REDIS)),
        case("guard: DaemonSet Pods are not moved by a drain", state(BASE, NODE_EXPORTER)),
        case("guard: a Pod on Fargate is never on a rotating node", state(BASE, SUGGEST)),
        case("guard: the Pods' node group is not rotating (--rotating ng-green)", state(BASE, RECOMMENDATIONS),
             options={"rotating": ["ng-green"]}),
        case("guard: the apiserver's default/kubernetes Service", state(BASE, API)),
        case("not run: no target version and no --rotating", state(BASE, RECOMMENDATIONS), options=None,
             not_run=NO_PLAN),
    ]


def single_zone() -> list[Obj]:
    fc = FRAUD
    fc_nozone = [fc[0], fc[1], fc[2], *variant_slices(fc[0], [fc[1], fc[2]], zone=False), FC_DEP, FC_RS]
    ds_a = [_on(b.daemonset_pod(NE_DS, name_of(n), T - 20 * DAYS, ip=ip_of(n), host_network=True), n)
            for n in (NB1, NG1)]
    ne_1a = [X["svc-node-exporter"], *ds_a, *variant_slices(X["svc-node-exporter"], ds_a), NE_DS]
    return [
        case("two replicas, both in eu-west-1a, in a cluster spanning three zones (no plan needed)",
             state(BASE, fc), [
            exp("Service", "shop", "fraud-check", "info", "all 2 ready Pods are in zone eu-west-1a",
                zone="eu-west-1a", clusterZones=["eu-west-1a", "eu-west-1b", "eu-west-1c"],
                workloads=[{"kind": "Deployment", "name": "fraud-check", "replicas": 2}])], options=None),
        case("the zone comes from the Node label when the slice has none", state(BASE, fc_nozone), [
            exp("Service", "shop", "fraud-check", "info", "eu-west-1a")]),
        case("guard: replicas in two zones", state(BASE, CATALOG)),
        case("guard: a single replica", state(BASE, QUERY_API)),
        case("guard: DaemonSet Pods follow the nodes", state(BASE, ne_1a)),
        case("guard: the cluster's nodes are all in one zone", state(NS, NB1, NG1, fc)),
        case("guard: the apiserver's default/kubernetes Service", state(BASE, API)),
    ]


def main() -> None:
    write("service-single-replica", EKS_HEADER, single_replica())
    write("service-rotation-unprotected", EKS_HEADER, unprotected())
    write("pdb-blocks-drain", EKS_HEADER, blocks_drain())
    write("endpoints-without-readiness-probe", EKS_HEADER, readiness())
    write("service-single-zone", EKS_HEADER, single_zone())


if __name__ == "__main__":
    main()
