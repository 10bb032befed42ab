"""What the rotation rules share (auditor.rules.rotationkit): each Service's ready backends, one per Pod, the
Services they judge, the one zone of a Service, and the texts their findings are made of."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
from auditor.rules import rotationkit as kit
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.analysis.plan import PlanGroup

Obj = dict[str, Any]
T = b.at("2026-11-20T10:00:00Z")
OLD = T - timedelta(days=1)
NS = "shop"
NODE_A = "ip-10-0-1-17.eu-west-1.compute.internal"
NODE_B = "ip-10-0-2-9.eu-west-1.compute.internal"
NODES = {NODE_A: b.node(NODE_A, OLD, zone="eu-west-1a"), NODE_B: b.node(NODE_B, OLD, zone="eu-west-1b")}


def index(objs: list[Obj]) -> ClusterIndex:
    return ClusterIndex(state_from({"takenAt": b.ts(T), "objects": [*NODES.values(), *objs]}))


def cart_pod(i: int, **kw: Any) -> Obj:
    kw.setdefault("node_name", (NODE_A, NODE_B)[i % 2])
    kw.setdefault("ips", [f"10.0.1.{10 + i}"])
    return b.replicaset_pod("cart", NS, i, OLD, labels={"app": "cart"}, **kw)


def name_of(p: Obj) -> str:
    return str(p["metadata"]["name"])


def handmade(name: str, endpoints: list[Obj], service: str = "legacy") -> Obj:
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4",
            "metadata": b.meta(name, NS, OLD, labels={"kubernetes.io/service-name": service}),
            "endpoints": endpoints, "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def target(p: Obj, uid: str | None = None) -> Obj:
    return {"kind": "Pod", "namespace": NS, "name": p["metadata"]["name"], "uid": uid or p["metadata"]["uid"]}


def test_backends_one_per_pod() -> None:
    svc = b.service("cart", NS, OLD, selector={"app": "cart"}, families=["IPv4", "IPv6"])
    dual = cart_pod(0, ips=["10.0.1.10", "fd00:10::a"])
    leaving = cart_pod(1, deleting_at=T - timedelta(seconds=5))
    agent_ds = b.daemonset("agent", NS, OLD, labels={"app": "cart"}, nodes=2)
    agent = b.daemonset_pod(agent_ds, NODE_A, OLD, ip="10.0.1.30")
    pods = [dual, leaving, agent]
    slices = b.controller_slices(svc, pods, NODES, OLD, trigger=OLD)
    for s in slices:  # ready even while terminating, as publishNotReadyAddresses would list it
        for ep in s["endpoints"]:
            ep["conditions"]["ready"] = True
    idx = index([svc, *pods, *slices])
    got = kit.backends(idx, idx.services[(NS, "cart")])
    assert got.unknown == 0
    assert [(x.pod.name, x.node, x.zone, x.addresses, x.movable) for x in got.pods] == sorted([
        (name_of(dual), NODE_A, "eu-west-1a", ("10.0.1.10", "fd00:10::a"), True),
        (name_of(leaving), NODE_B, "eu-west-1b", ("10.0.1.11",), False),   # already terminating
        (name_of(agent), NODE_A, "eu-west-1a", ("10.0.1.30",), False),     # follows its node
    ])
    assert kit.backends(idx, idx.services[(NS, "cart")]) is got  # memoised


def test_backends_that_cannot_be_judged_are_counted() -> None:
    svc = b.service("legacy", NS, OLD)  # selectorless: its own slices are routed
    live, reborn, failed = cart_pod(0), cart_pod(1), cart_pod(2, phase="Failed", ready=False)
    eps = [{"addresses": ["10.0.9.1"], "conditions": {"ready": True}},                           # no Pod at all
           {"addresses": ["10.0.9.2"], "conditions": {"ready": True}, "targetRef": target(cart_pod(5))},  # gone
           {"addresses": ["10.0.1.11"], "conditions": {"ready": True}, "targetRef": target(reborn, "old")},
           {"addresses": ["10.0.1.12"], "conditions": {"ready": True}, "targetRef": target(failed)},
           {"addresses": ["10.0.1.10"], "conditions": {"ready": True}, "nodeName": "ip-gone",   # a stale nodeName
            "targetRef": target(live)}]
    idx = index([svc, live, reborn, failed, handmade("legacy-x1", eps)])
    got = kit.backends(idx, idx.services[(NS, "legacy")])
    assert got.unknown == 4
    # the Pod's own node wins over the endpoint's, and its zone comes from that Node
    assert [(x.pod.name, x.node, x.zone) for x in got.pods] == [(name_of(live), NODE_A, "eu-west-1a")]


def test_a_backend_whose_pod_has_no_uid_recorded() -> None:
    svc = b.service("legacy", NS, OLD)
    p = cart_pod(0)
    ref = target(p)
    del ref["uid"]
    idx = index([svc, p, handmade("legacy-x1", [{"addresses": ["10.0.1.10"], "conditions": {"ready": True},
                                                  "zone": "eu-west-1c", "targetRef": ref}])])
    got = kit.backends(idx, idx.services[(NS, "legacy")])
    assert (got.unknown, [(x.node, x.zone) for x in got.pods]) == (0, [(NODE_A, "eu-west-1c")])


def test_a_backend_on_an_unknown_node_has_no_zone() -> None:
    svc = b.service("legacy", NS, OLD)
    p = cart_pod(0, node_name="ip-10-0-3-3")
    idx = index([svc, p, handmade("legacy-x1", [{"addresses": ["10.0.1.10"], "conditions": {"ready": True},
                                                  "targetRef": target(p)}])])
    assert [(x.node, x.zone) for x in kit.backends(idx, idx.services[(NS, "legacy")]).pods] == [("ip-10-0-3-3", "")]


def test_candidates_and_services_of_a_pod() -> None:
    objs: list[Obj] = [*b.apiserver_objects(OLD, ["10.0.0.5"]),
                       b.service("web", NS, OLD, selector={"app": "cart"}),
                       b.service("db", NS, OLD, svc_type="ExternalName"),
                       b.service("cart", NS, OLD, selector={"app": "cart"}),
                       b.service("idle", NS, OLD, selector={"app": "none"})]
    pods = [cart_pod(0), cart_pod(1)]
    for svc in objs[3:4] + objs[5:6]:
        objs += b.controller_slices(svc, pods, NODES, OLD)
    idx = index([*objs, *pods])
    assert [f"{s.namespace}/{s.name}" for s in kit.candidates(idx)] == ["shop/cart", "shop/idle", "shop/web"]
    assert kit.candidates(idx) is kit.candidates(idx)
    assert [f"{x.service.namespace}/{x.service.name}" for x in kit.services(idx)] == ["shop/cart", "shop/web"]
    pod = idx.pods[(NS, name_of(pods[0]))]
    assert kit.services_of_pod(idx, pod) == ["shop/cart", "shop/web"]


def zone_case(zones: list[str | None], nodes: list[str]) -> str | None:
    svc = b.service("legacy", NS, OLD)
    eps = []
    for i, (z, n) in enumerate(zip(zones, nodes, strict=True)):
        ep: Obj = {"addresses": [f"10.0.1.{10 + i}"], "conditions": {"ready": True}, "nodeName": n}
        if z is not None:
            ep["zone"] = z
        eps.append(ep)
    idx = index([svc, handmade("legacy-x1", eps)])
    return kit.one_zone(idx, idx.services[(NS, "legacy")])


def test_one_zone() -> None:
    assert zone_case(["eu-west-1a", "eu-west-1a"], [NODE_A, NODE_A]) == "eu-west-1a"
    assert zone_case(["eu-west-1a", "eu-west-1b"], [NODE_A, NODE_B]) is None
    assert zone_case([None, "eu-west-1a"], [NODE_A, NODE_B]) == "eu-west-1a"  # the Node's label, then the slice's
    assert zone_case([None, None], [NODE_A, NODE_B]) is None
    assert zone_case([None], ["ip-unknown"]) is None
    assert zone_case([], []) is None


def group(kind: str, name: str) -> PlanGroup:
    return PlanGroup(kind=kind, name=name, nodes=("n",), reason="test")


def test_texts() -> None:
    assert kit.plural(1, "replica") == "1 replica" and kit.plural(0, "replica") == "0 replicas"
    assert kit.names(["b", "a", "b"]) == ["a", "b"] and len(kit.names(str(i) for i in range(30))) == kit.MAX_LISTED
    groups = [group("eks-nodegroup", "ng-blue"), group("karpenter-nodepool", "default"), group("unmanaged", "x")]
    assert kit.drain_consequence(groups[2:]) == "kubectl drain retries the eviction until its --timeout (forever by " \
                                               "default)"
    assert kit.drain_consequence(groups).count("; ") == 2 and kit.drain_consequence([]) == ""
