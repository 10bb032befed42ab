"""What the controllers would write for a Service and which slices describe it (auditor.analysis.desired)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
import pytest
from builders import state_from

from auditor.analysis import desired
from auditor.analysis.index import ClusterIndex

Obj = dict[str, Any]
T = b.at("2026-11-20T10:00:00Z")
OLD = T - timedelta(hours=3)
NS = "shop"
NODE_A = "ip-10-0-1-17.eu-west-1.compute.internal"
NODE_B = "ip-10-0-2-9.eu-west-1.compute.internal"
NODES = [b.node(NODE_A, OLD, zone="eu-west-1a"), b.node(NODE_B, OLD, zone="eu-west-1b")]
MIRRORING = "endpointslicemirroring-controller.k8s.io"


def index(objs: list[Obj], **spec: Any) -> ClusterIndex:
    return ClusterIndex(state_from({"takenAt": b.ts(T), "objects": objs, **spec}))


def cart_pod(i: int, **kw: Any) -> Obj:
    kw.setdefault("node_name", (NODE_A, NODE_B)[i % 2])
    kw.setdefault("ips", [f"10.0.1.{10 + i}"])
    return b.replicaset_pod("cart", NS, i, OLD, labels={"app": "cart"}, **kw)


def cart_service(**kw: Any) -> Obj:
    kw.setdefault("selector", {"app": "cart"})
    return b.service("cart", NS, OLD - timedelta(days=1), **kw)


def names(objs: list[Any]) -> list[str]:
    return sorted(o.metadata.name for o in objs)


def test_controller_slices_are_the_live_services_own() -> None:
    svc = cart_service()
    own = b.controller_slices(svc, [cart_pod(0)], {}, OLD)
    older = cart_service()
    older["metadata"]["uid"] = "uid-of-the-deleted-service"
    foreign = b.controller_slices(older, [cart_pod(1)], {}, OLD - timedelta(days=3))
    deleting = b.controller_slices(svc, [cart_pod(2)], {}, OLD + timedelta(minutes=1))
    deleting[0]["metadata"]["deletionTimestamp"] = b.ts(OLD + timedelta(minutes=2))
    handmade = {**own[0], "metadata": {**own[0]["metadata"], "name": "cart-manual",
                                        "labels": {"kubernetes.io/service-name": "cart"}}}
    idx = index([svc, *own, *foreign, *deleting, handmade])
    live = idx.services[(NS, "cart")]
    assert names(desired.controller_slices(idx, live)) == [own[0]["metadata"]["name"]]
    # a Service without uid (a kubectl dump stripped of it) owns every controller slice of its name
    bare = b.service("cart", NS, OLD)
    del bare["metadata"]["uid"]
    idx2 = index([bare, *own, *foreign, *deleting, handmade])
    assert names(desired.controller_slices(idx2, idx2.services[(NS, "cart")])) == sorted(
        [own[0]["metadata"]["name"], foreign[0]["metadata"]["name"]])
    assert desired.controller_slices(idx, index([b.service("web", NS, OLD)]).services[(NS, "web")]) == []


def endpoints_obj(uid: bool = True) -> Obj:
    ep = {"kind": "Endpoints", "apiVersion": "v1", "metadata": b.meta("legacy-pg", "db", OLD, seed="db/legacy-pg"),
          "subsets": [{"addresses": [{"ip": "10.9.0.1"}]}]}
    if not uid:
        del ep["metadata"]["uid"]
    return ep


def mirror(name: str, owners: list[Obj] | None, *, manager: str = MIRRORING, deleting: bool = False) -> Obj:
    m = b.meta(name, "db", OLD, labels={"kubernetes.io/service-name": "legacy-pg",
                                        "endpointslice.kubernetes.io/managed-by": manager}, owners=owners)
    if deleting:
        m["deletionTimestamp"] = b.ts(OLD)
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4", "metadata": m,
            "endpoints": [{"addresses": ["10.9.0.1"], "conditions": {"ready": True}}]}


@pytest.mark.parametrize(("with_uid", "want"), [
    (True, ["legacy-pg-orphan", "legacy-pg-owned"]),
    (False, ["legacy-pg-orphan", "legacy-pg-other", "legacy-pg-owned"]),
], ids=["owned by this Endpoints or by nothing", "an Endpoints without uid: every mirror of its name"])
def test_mirrored_slices(with_uid: bool, want: list[str]) -> None:
    ep = endpoints_obj(uid=True)
    other = {"kind": "Endpoints", "name": "legacy-pg", "uid": "uid-of-an-older-endpoints"}
    slices = [mirror("legacy-pg-owned", [b.owner("Endpoints", ep)]), mirror("legacy-pg-orphan", None),
              mirror("legacy-pg-other", [other]), mirror("legacy-pg-deleting", None, deleting=True),
              mirror("legacy-pg-ctrl", None, manager="endpointslice-controller.k8s.io")]
    idx = index([endpoints_obj(uid=with_uid), *slices])
    assert names(desired.mirrored_slices(idx, idx.endpoints[("db", "legacy-pg")])) == want


def test_routed_slices_read_the_index() -> None:
    svc = cart_service()
    own = b.controller_slices(svc, [cart_pod(0)], {}, OLD)
    idx = index([svc, *own])
    assert names(desired.routed_slices(idx, idx.services[(NS, "cart")])) == [own[0]["metadata"]["name"]]


def desired_of(objs: list[Obj], svc: Obj, **spec: Any) -> list[tuple[str, str, str, bool, bool, bool]]:
    idx = index([svc, *objs], **spec)
    return [(d.pod.metadata.name[-5:], d.address, d.family, d.ready, d.serving, d.terminating)
            for d in desired.desired_endpoints(idx, idx.services[(NS, "cart")])]


def tail(p: Obj) -> str:
    return str(p["metadata"]["name"])[-5:]


P0, P1 = cart_pod(0), cart_pod(1)


@pytest.mark.parametrize(("pods", "svc", "want"), [
    pytest.param([P0], cart_service(), [(tail(P0), "10.0.1.10", "IPv4", True, True, False)], id="a ready Pod"),
    pytest.param([cart_pod(0, ready=False)], cart_service(),
                 [(tail(P0), "10.0.1.10", "IPv4", False, False, False)], id="not ready: listed not ready"),
    pytest.param([cart_pod(0, deleting_at=OLD)], cart_service(),
                 [(tail(P0), "10.0.1.10", "IPv4", False, True, True)], id="terminating"),
    pytest.param([cart_pod(0, ready=False)], cart_service(pnra=True),
                 [(tail(P0), "10.0.1.10", "IPv4", True, False, False)], id="publishNotReadyAddresses"),
    pytest.param([cart_pod(0, phase="Succeeded"), P1], cart_service(),
                 [(tail(P1), "10.0.1.11", "IPv4", True, True, False)], id="terminal Pods left out"),
    pytest.param([cart_pod(0, node_name=None), P1], cart_service(),
                 [(tail(P1), "10.0.1.11", "IPv4", True, True, False)], id="no IP yet: left out"),
    pytest.param([cart_pod(0, node_name="ip-gone"), P1], cart_service(),
                 [(tail(P1), "10.0.1.11", "IPv4", True, True, False)], id="on a Node that does not exist"),
    pytest.param([cart_pod(0, node_name="ip-gone")], cart_service(pnra=True),
                 [(tail(P0), "10.0.1.10", "IPv4", True, True, False)],
                 id="publishNotReadyAddresses keeps Pods of deleted Nodes"),
    pytest.param([cart_pod(0, ips=["10.0.1.10", "fd00:10::a"]), cart_pod(1, ips=["10.0.1.11"])],
                 cart_service(families=["IPv6", "IPv4"]),
                 [(tail(P0), "fd00:10::a", "IPv6", True, True, False),
                  (tail(P0), "10.0.1.10", "IPv4", True, True, False),
                  (tail(P1), "10.0.1.11", "IPv4", True, True, False)],
                 id="dual-stack: one endpoint per family the Pod has"),
    pytest.param([cart_pod(0, ips=["fd00:10:0:0::a"])], cart_service(families=["IPv6"]),
                 [(tail(P0), "fd00:10::a", "IPv6", True, True, False)], id="IPv6, canonical spelling"),
    pytest.param([P0], b.service("cart", NS, OLD), [], id="selectorless: nothing"),
])
def test_desired_endpoints(pods: list[Obj], svc: Obj, want: list[tuple[str, str, str, bool, bool, bool]]) -> None:
    assert desired_of([*NODES, *pods], svc) == want


def test_desired_without_nodes_read_keeps_every_pod() -> None:
    # unknown is never "gone": without the Node kind no Pod is dropped for its node
    pods = [cart_pod(0, node_name="ip-anywhere")]
    assert desired_of(pods, cart_service(), kinds=["Pod", "Service", "Endpoints", "EndpointSlice"]) == [
        (tail(P0), "10.0.1.10", "IPv4", True, True, False)]


def test_desired_is_memoised_per_service() -> None:
    idx = index([*NODES, P0, cart_service(), b.service("web", NS, OLD, selector={"app": "cart"})])
    cart, web = idx.services[(NS, "cart")], idx.services[(NS, "web")]
    first = desired.desired_endpoints(idx, cart)
    assert desired.desired_endpoints(idx, cart) is first
    assert desired.desired_endpoints(idx, web) is not first and len(desired.desired_endpoints(idx, web)) == 1


def test_service_ready_endpoints() -> None:
    svc = cart_service()
    pods = [P0, cart_pod(1, ready=False)]
    nodes = {n["metadata"]["name"]: n for n in NODES}
    idx = index([*NODES, svc, *pods, *b.controller_slices(svc, pods, nodes, OLD)])
    got = desired.service_ready_endpoints(idx, NS, "cart")
    assert list(got) == ["10.0.1.10"] and got["10.0.1.10"].zone == "eu-west-1a"
    assert desired.service_ready_endpoints(idx, NS, "cart") is got
    assert desired.service_ready_endpoints(idx, NS, "gone") == {}
