"""The resilience rules (auditor.rules.resilience) over several Services at once: each Service is judged whatever
the ones before it were, and the messages count what they say."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
from auditor.rules.base import Options
from auditor.rules.resilience import endpoints_without_readiness_probe, service_single_zone
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.engine.run import run_rules
from auditor.model import Finding
from auditor.settings import Config

Obj = dict[str, Any]
T = b.at("2026-11-20T10:00:00Z")
OLD = T - timedelta(days=1)
NS = "shop"
NODE_A = "ip-10-0-1-17.eu-west-1.compute.internal"
NODE_B = "ip-10-0-2-9.eu-west-1.compute.internal"


def nodes(zone_b: str = "eu-west-1b") -> dict[str, Obj]:
    return {NODE_A: b.node(NODE_A, OLD, zone="eu-west-1a", nodegroup="ng-blue"),
            NODE_B: b.node(NODE_B, OLD, zone=zone_b, nodegroup="ng-blue")}


def app(name: str, node_names: list[str], *, probe: bool = False, first_ip: int = 10, **svc_kw: Any) -> list[Obj]:
    """A Deployment of len(node_names) replicas, its Pods on those nodes, its Service and the slices."""
    labels = {"app": name}
    dep, rs = b.deployment(name, NS, OLD, replicas=len(node_names), labels=labels, probe=probe)
    pods = [b.with_probe(b.replicaset_pod(name, NS, i, OLD, labels=labels, node_name=n, ips=[f"10.0.1.{first_ip + i}"]),
                         probe) for i, n in enumerate(node_names)]
    svc = b.service(name, NS, OLD, selector=labels, **svc_kw)
    return [dep, rs, svc, *pods]


def findings(rule: Any, objs: list[Obj], node_map: dict[str, Obj], **options: Any) -> list[Finding]:
    svcs = [o for o in objs if o["kind"] == "Service"]
    pods = [o for o in objs if o["kind"] == "Pod"]
    slices = [s for svc in svcs for s in b.controller_slices(
        svc, [p for p in pods if all(p["metadata"]["labels"].get(k) == v
                                     for k, v in svc["spec"]["selector"].items())], node_map, OLD)]
    state = state_from({"takenAt": b.ts(T), "objects": [*node_map.values(), *objs, *slices]})
    run = run_rules([rule], ClusterIndex(state), Config(options=Options(**options)))
    assert not [f for f in run.findings if f.rule == "internal-error"]
    return [f for f in run.findings if f.rule == rule.id]


def test_single_zone_after_services_it_does_not_report() -> None:
    objs = [*app("a-spread", [NODE_A, NODE_B]), *app("b-lone", [NODE_A], first_ip=20),
            *app("c-zonal", [NODE_A, NODE_A], first_ip=30)]
    got = findings(service_single_zone, objs, nodes())
    assert [(f.object.name, f.message, f.evidence["clusterZones"]) for f in got] == [
        ("c-zonal", "all 2 ready Pods are in zone eu-west-1a (Deployment c-zonal, 2 replicas); the cluster's nodes "
                    "span 2 zones", ["eu-west-1a", "eu-west-1b"])]


def test_single_zone_needs_two_named_zones() -> None:
    objs = app("c-zonal", [NODE_A, NODE_A], first_ip=30)
    assert findings(service_single_zone, objs, nodes(zone_b="")) == []  # an empty zone label names no zone


def test_readiness_probe_after_services_it_does_not_report() -> None:
    objs = [*app("a-published", [NODE_A, NODE_B], pnra=True), *app("b-probed", [NODE_A, NODE_B], probe=True,
                                                                    first_ip=20)]
    one = app("c-web", [NODE_A, NODE_B, NODE_B], probe=True, first_ip=30)
    unprobed = [o for o in one if o["kind"] == "Pod"][0]
    del unprobed["spec"]["containers"][0]["readinessProbe"]
    got = findings(endpoints_without_readiness_probe, [*objs, *one], nodes(), rotating=("ng-blue",))
    assert [(f.object.name, f.message) for f in got] == [
        ("c-web", "1 of its 3 ready Pods on rotating nodes (ng-blue) declares no readiness probe (Deployment c-web, "
                  "3 replicas): the replacements turn ready as soon as the container starts")]


def test_readiness_probe_fixes_every_workload() -> None:
    web = app("web", [NODE_A, NODE_B])
    canary = app("web-canary", [NODE_A], first_ip=20)
    for o in canary:
        if o["kind"] in ("Pod", "Deployment", "ReplicaSet"):
            o["metadata"]["labels"]["app"] = "web"  # the canary's Pods stand behind the same Service
    objs = [*web, *[o for o in canary if o["kind"] != "Service"]]
    [f] = findings(endpoints_without_readiness_probe, objs, nodes(), rotating=("ng-blue",))
    assert f.message.startswith("all 3 of its ready Pods on rotating nodes (ng-blue) declare no readiness probe")
    assert [cmd.split(" --type")[0] for cmd in f.fix] == ["kubectl -n shop patch deployment web",
                                                         "kubectl -n shop patch deployment web-canary"]
