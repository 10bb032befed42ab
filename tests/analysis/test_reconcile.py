"""The reconcile engine (auditor.analysis.reconcile): each discrepancy against what the EndpointSlice, Endpoints and
mirroring controllers would write, when it happened, and when it is still in flight."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

import builders as b
import pytest
from builders import state_from

from auditor.analysis.discrepancies import Problem, Reconciliation
from auditor.analysis.index import ClusterIndex
from auditor.analysis.reconcile import Reconciler

Obj = dict[str, Any]
T = b.at("2026-11-20T10:00:00Z")
OLD = T - timedelta(hours=3)          # long past any grace period
RECENT = T - timedelta(seconds=30)    # inside the default 120 s
GRACE = 120
NS = "shop"
NODE_A = "ip-10-0-1-17.eu-west-1.compute.internal"
NODE_B = "ip-10-0-2-9.eu-west-1.compute.internal"
NODE_GONE = "ip-10-0-3-4.eu-west-1.compute.internal"
NODES = {NODE_A: b.node(NODE_A, OLD - timedelta(days=2), zone="eu-west-1a", ip="10.0.1.250"),
         NODE_B: b.node(NODE_B, OLD - timedelta(days=2), zone="eu-west-1b", ip="10.0.2.250")}
#: the Node the Pods ran on before it was deleted, for writing the slices the controller wrote then
WITH_GONE = {**NODES, NODE_GONE: b.node(NODE_GONE, OLD - timedelta(days=2), zone="eu-west-1c")}


def cart_pod(i: int, *, node: str | None = None, ips: list[str] | None = None, created: datetime = OLD,
             **kw: Any) -> Obj:
    return b.replicaset_pod("cart", NS, i, created, labels={"app": "cart"}, node_name=node or (NODE_A, NODE_B)[i % 2],
                            ips=ips or [f"10.0.1.{10 + i}"], **kw)


def cart_service(**kw: Any) -> Obj:
    kw.setdefault("selector", {"app": "cart"})
    return b.service("cart", NS, OLD - timedelta(days=10), **kw)


def cluster(pods: list[Obj], *, svc: Obj | None = None, written: datetime = OLD, slice_pods: list[Obj] | None = None,
            endpoint_pods: list[Obj] | None = None, nodes: dict[str, Obj] = NODES, extra: tuple[Obj, ...] = (),
            endpoints: bool = True) -> list[Obj]:
    """Pods and a Service in the state; the slices and Endpoints as the controllers wrote them at `written` for
    `slice_pods` / `endpoint_pods` (by default the Pods in the state: nothing to reconcile)."""
    svc = svc or cart_service()
    slices = b.controller_slices(svc, pods if slice_pods is None else slice_pods, {**WITH_GONE, **nodes}, written)
    objs = [b.namespace(NS, OLD - timedelta(days=30)), *nodes.values(), svc, *pods, *slices, *extra]
    if endpoints:
        objs.append(b.endpoints_object(svc, pods if endpoint_pods is None else endpoint_pods, WITH_GONE, written))
    return objs


def reconciler(objs: list[Obj], grace: int = GRACE, **spec: Any) -> Reconciler:
    return Reconciler.of(ClusterIndex(state_from({"takenAt": b.ts(T), "objects": objs, **spec})), grace)


def name_of(p: Obj) -> str:
    return str(p["metadata"]["name"])


def slice_problems(r: Reconciliation) -> list[tuple[str, str, object]]:
    return [(sr.service.metadata.name if sr.service else "", p.what, p.detail.get("pod") or p.detail.get("address"))
            for sr in r.slices for p in sr.problems]


TWO = [cart_pod(0), cart_pod(1)]
GONE = cart_pod(2)


# -- EndpointSlices ------------------------------------------------------------------------------------------

def test_a_reconciled_state_has_no_discrepancy() -> None:
    r = reconciler(cluster(TWO)).slices()
    assert (r.slices, r.services, r.frozen) == ([], [], [])
    assert r.latest_controller_write == OLD


def test_latest_controller_write_reads_controller_slices_only() -> None:
    handmade = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4",
                "metadata": b.meta("cart-manual", NS, RECENT, labels={"kubernetes.io/service-name": "cart"}),
                "endpoints": []}
    newer = b.controller_slices(b.service("web", NS, OLD, selector={"app": "web"}), [], NODES, OLD + timedelta(hours=1))
    r = reconciler(cluster(TWO, extra=(handmade, *newer))).slices()
    assert r.latest_controller_write == OLD + timedelta(hours=1)
    assert reconciler([b.namespace(NS, OLD)]).slices().latest_controller_write is None


Case = Callable[[], list[Obj]]

SLICE_CASES: list[tuple[str, Case, list[tuple[str, str, object]]]] = [
    ("pod gone: listed, no longer in the state",
     lambda: cluster(TWO, slice_pods=[*TWO, GONE]), [("cart", "pod-gone", name_of(GONE))]),
    ("pod gone, but the slice was written within the grace period",
     lambda: cluster(TWO, slice_pods=[*TWO, GONE], written=RECENT), []),
    ("pod gone from a Node created within the grace period",
     lambda: cluster(TWO, slice_pods=[*TWO, cart_pod(2, node="ip-new")],
                     nodes={**NODES, "ip-new": b.node("ip-new", RECENT, zone="eu-west-1a")}), []),
    ("pod recreated: same name, another uid",
     lambda: cluster([TWO[0], b.replicaset_pod("cart", NS, 1, OLD + timedelta(minutes=5), labels={"app": "cart"},
                                               node_name=NODE_B, ips=["10.0.1.11"])], slice_pods=TWO),
     [("cart", "pod-recreated", name_of(TWO[1]))]),
    ("pod recreated within the grace period",
     lambda: cluster([TWO[0], b.replicaset_pod("cart", NS, 1, RECENT - timedelta(seconds=30),
                                               labels={"app": "cart"}, node_name=NODE_B, ips=["10.0.1.11"])],
                     slice_pods=TWO), []),
    ("IP changed",
     lambda: cluster([TWO[0], cart_pod(1, ips=["10.0.1.99"])], slice_pods=TWO),
     [("cart", "ip-changed", name_of(TWO[1])), ("cart", "missing-ready-pod", name_of(TWO[1]))]),
    ("endpoint on a deleted Node, the Pod elsewhere now",
     lambda: cluster([TWO[0], cart_pod(1)], slice_pods=[TWO[0], cart_pod(1, node=NODE_GONE)]),
     [("cart", "node-gone", name_of(TWO[1]))]),
    ("Pod still bound to its deleted Node: in flight until podgc",
     lambda: cluster([TWO[0], cart_pod(1, node=NODE_GONE)], slice_pods=[TWO[0], cart_pod(1, node=NODE_GONE)]), []),
    ("no longer selected",
     lambda: cluster([TWO[0], b.replicaset_pod("cart", NS, 1, OLD, labels={"app": "cart-canary"},
                                               node_name=NODE_B, ips=["10.0.1.11"])], slice_pods=TWO),
     [("cart", "not-selected", name_of(TWO[1]))]),
    ("terminal Pod still listed",
     lambda: cluster([TWO[0], cart_pod(1, phase="Failed", ready=False, ready_at=OLD + timedelta(minutes=10))],
                     slice_pods=TWO), [("cart", "pod-terminal", name_of(TWO[1]))]),
    ("terminal within the grace period",
     lambda: cluster([TWO[0], cart_pod(1, phase="Failed", ready=False, ready_at=RECENT)], slice_pods=TWO), []),
    ("ready in the slice, not ready since long",
     lambda: cluster([TWO[0], cart_pod(1, ready=False, ready_at=OLD + timedelta(minutes=10))], slice_pods=TWO),
     [("cart", "wrong-ready", name_of(TWO[1]))]),
    ("not ready since within the grace period",
     lambda: cluster([TWO[0], cart_pod(1, ready=False, ready_at=RECENT)], slice_pods=TWO), []),
    ("wrong readiness, the slice rewritten within the grace period",
     lambda: cluster([TWO[0], cart_pod(1, ready=False, ready_at=OLD + timedelta(minutes=10))], slice_pods=TWO,
                     written=RECENT), []),
    ("a ready Pod missing from the slices",
     lambda: cluster([*TWO, GONE], slice_pods=TWO), [("cart", "missing-ready-pod", name_of(GONE))]),
    ("a ready Pod missing, created within the grace period",
     lambda: cluster([*TWO, cart_pod(2, created=RECENT - timedelta(seconds=30))], slice_pods=TWO), []),
    ("a not-ready Pod is not missing",
     lambda: cluster([*TWO, cart_pod(2, ready=False, ready_at=OLD + timedelta(minutes=10))], slice_pods=TWO), []),
    ("a terminal Pod is not missing",
     lambda: cluster([*TWO, cart_pod(2, phase="Succeeded")], slice_pods=TWO), []),
    ("a Pod on a Node that does not exist is not desired",
     lambda: cluster([*TWO, cart_pod(2, node=NODE_GONE)], slice_pods=TWO), []),
]


@pytest.mark.parametrize(("objs", "want"), [pytest.param(c, w, id=i) for i, c, w in SLICE_CASES])
def test_slice_discrepancies(objs: Case, want: list[tuple[str, str, object]]) -> None:
    r = reconciler(objs()).slices()
    missing = [("cart", p.what, p.detail["pod"]) for rep in r.services for p in rep.missing_ready]
    assert slice_problems(r) + missing == want


def only_problem(r: Reconciliation) -> Problem:
    problems = [p for sr in r.slices for p in sr.problems] + [p for rep in r.services for p in rep.missing_ready]
    assert len(problems) == 1, problems
    return problems[0]


def test_pod_gone_detail() -> None:
    p = only_problem(reconciler(cluster(TWO, slice_pods=[*TWO, GONE])).slices())
    m = GONE["metadata"]
    assert p == Problem("pod-gone", {"pod": m["name"], "uid": m["uid"], "address": "10.0.1.12", "node": NODE_A,
                                     "zone": "eu-west-1a",
                                     "conditions": {"ready": True, "serving": True, "terminating": False}},
                        OLD, exact=False)


def test_pod_recreated_detail() -> None:
    reborn = b.replicaset_pod("cart", NS, 1, OLD + timedelta(minutes=5), labels={"app": "cart"}, node_name=NODE_B,
                              ips=["10.0.1.11"])
    p = only_problem(reconciler(cluster([TWO[0], reborn], slice_pods=TWO)).slices())
    assert p.what == "pod-recreated" and p.exact
    assert (p.detail["oldUid"], p.detail["newUid"]) == (TWO[1]["metadata"]["uid"], reborn["metadata"]["uid"])
    assert p.since == OLD + timedelta(minutes=5)


def test_ip_changed_detail() -> None:
    moved = cart_pod(1, ips=["10.0.1.99"], ready_at=OLD + timedelta(minutes=7))
    r = reconciler(cluster([TWO[0], moved], slice_pods=TWO)).slices()
    changed = [p for sr in r.slices for p in sr.problems]
    assert [(p.what, p.detail["address"], p.detail["podIPs"], p.since, p.exact) for p in changed] == [
        ("ip-changed", "10.0.1.11", ["10.0.1.99"], OLD + timedelta(minutes=7), True)]


def test_not_selected_and_node_gone_are_lower_bounds() -> None:
    relabelled = b.replicaset_pod("cart", NS, 1, OLD, labels={"app": "cart-canary"}, node_name=NODE_B,
                                  ips=["10.0.1.11"])
    p = only_problem(reconciler(cluster([TWO[0], relabelled], slice_pods=TWO), grace=60).slices())
    assert (p.what, p.since, p.exact) == ("not-selected", OLD, False)
    p = only_problem(reconciler(cluster(TWO, slice_pods=[TWO[0], cart_pod(1, node=NODE_GONE)])).slices())
    assert (p.what, p.detail["node"], p.since, p.exact) == ("node-gone", NODE_GONE, OLD, False)
    assert "zone" in p.detail and p.detail["zone"] == "eu-west-1c"


def test_pod_terminal_detail() -> None:
    failed = cart_pod(1, phase="Failed", ready=False, ready_at=OLD + timedelta(minutes=10))
    p = only_problem(reconciler(cluster([TWO[0], failed], slice_pods=TWO)).slices())
    assert (p.what, p.detail["phase"], p.since, p.exact) == ("pod-terminal", "Failed", OLD + timedelta(minutes=10),
                                                             True)


def test_wrong_ready_detail() -> None:
    unready = cart_pod(1, ready=False, ready_at=OLD + timedelta(minutes=10))
    p = only_problem(reconciler(cluster([TWO[0], unready], slice_pods=TWO)).slices())
    assert p.what == "wrong-ready" and p.since == OLD + timedelta(minutes=10)
    assert {k: p.detail[k] for k in ("ready", "podReady", "terminating", "conditions")} == {
        "ready": True, "podReady": False, "terminating": False,
        "conditions": {"ready": True, "serving": True, "terminating": False}}


def test_terminating_pod_listed_ready_is_wrong() -> None:
    leaving = cart_pod(1, deleting_at=OLD + timedelta(minutes=20), grace=30)
    p = only_problem(reconciler(cluster([TWO[0], leaving], slice_pods=TWO)).slices())
    assert (p.what, p.detail["ready"], p.detail["podReady"], p.detail["terminating"]) == (
        "wrong-ready", True, True, True)
    assert p.since == OLD + timedelta(minutes=20)  # when the deletion started, not its deadline


def test_missing_ready_pod_detail() -> None:
    r = reconciler(cluster([*TWO, GONE], slice_pods=TWO)).slices()
    assert [rep.service.metadata.name for rep in r.services] == ["cart"]
    p = only_problem(r)
    m = GONE["metadata"]
    assert p == Problem("missing-ready-pod", {"pod": m["name"], "uid": m["uid"], "address": "10.0.1.12",
                                              "node": NODE_A, "family": "IPv4", "zone": "eu-west-1a",
                                              "conditions": {"ready": True, "serving": True, "terminating": False}},
                        OLD + timedelta(seconds=20))


def test_publish_not_ready_keeps_pods_of_deleted_nodes() -> None:
    svc = cart_service(pnra=True)
    bound = cart_pod(1, node=NODE_GONE)
    # the Pod is still bound to its deleted Node: with publishNotReadyAddresses the controller keeps it listed, so
    # its slice is judged like any other (here: relabelled out of the selector)
    relabelled = b.replicaset_pod("cart", NS, 1, OLD, labels={"app": "other"}, node_name=NODE_GONE, ips=["10.0.1.11"])
    assert slice_problems(reconciler(cluster([TWO[0], bound], svc=svc)).slices()) == []
    r = reconciler(cluster([TWO[0], relabelled], svc=svc, slice_pods=[TWO[0], bound])).slices()
    assert slice_problems(r) == [("cart", "not-selected", name_of(relabelled))]


def test_publish_not_ready_lists_not_ready_pods_as_ready() -> None:
    svc = cart_service(pnra=True)
    unready = cart_pod(1, ready=False, ready_at=OLD + timedelta(minutes=10))
    assert slice_problems(reconciler(cluster([TWO[0], unready], svc=svc)).slices()) == []
    # what a slice written without publishNotReadyAddresses says (ready: false) is wrong once it is set
    plain = b.controller_slices(cart_service(), [TWO[0], unready], NODES, OLD)
    objs = [o for o in cluster([TWO[0], unready], svc=svc) if o["kind"] != "EndpointSlice"] + plain
    assert slice_problems(reconciler(objs).slices()) == [("cart", "wrong-ready", name_of(unready))]


def test_endpoints_without_a_pod_target_are_not_judged() -> None:
    objs = cluster(TWO)
    slc = next(o for o in objs if o["kind"] == "EndpointSlice")
    slc["endpoints"] += [{"addresses": ["10.0.9.9"], "conditions": {"ready": True}},
                         {"addresses": ["10.0.9.8"], "conditions": {"ready": True},
                          "targetRef": {"kind": "Node", "name": NODE_A}},
                         {"addresses": [], "targetRef": {"kind": "Pod", "namespace": NS, "name": "ghost"}}]
    assert slice_problems(reconciler(objs).slices()) == []


def test_an_endpoint_found_by_name_or_uid_is_present() -> None:
    # the controller keys endpoints by address and targetRef name: a uid-less targetRef still counts as present
    objs = cluster(TWO)
    for o in objs:
        if o["kind"] == "EndpointSlice":
            for ep in o["endpoints"]:
                del ep["targetRef"]["uid"]
    r = reconciler(objs).slices()
    assert (slice_problems(r), r.services) == ([], [])


def test_dual_stack_family_without_a_slice() -> None:
    svc = cart_service(families=["IPv4", "IPv6"])
    pods = [cart_pod(0, ips=["10.0.1.10", "fd00:10::a"]), cart_pod(1, ips=["10.0.1.11", "fd00:10::b"]),
            cart_pod(2, ips=["10.0.1.12", "fd00:10::c"], created=RECENT - timedelta(seconds=30))]
    objs = [o for o in cluster(pods, svc=svc) if o.get("addressType") != "IPv6"]
    r = reconciler(objs).slices()
    assert [(rep.missing_families, rep.ready_families_missing) for rep in r.services] == [(["IPv6"], {"IPv6": 2})]
    # the IPv4 slice is checked all the same
    assert slice_problems(r) == []


def test_a_family_without_slice_or_ready_pods() -> None:
    svc = cart_service(families=["IPv6"], cluster_ip="fd00:20::a")
    unready = [cart_pod(0, ips=["fd00:10::a"], ready=False, ready_at=OLD + timedelta(minutes=1))]
    objs = [o for o in cluster(unready, svc=svc) if o["kind"] != "EndpointSlice"]
    r = reconciler(objs).slices()
    assert [(rep.missing_families, rep.ready_families_missing) for rep in r.services] == [(["IPv6"], {})]


def test_foreign_owner() -> None:
    old_svc = cart_service(labels={"app.kubernetes.io/name": "cart", "generation": "old"})
    stale = b.controller_slices(old_svc, TWO, NODES, OLD - timedelta(days=20))
    live = cart_service(labels={"app.kubernetes.io/name": "cart", "generation": "new"})
    live["metadata"]["uid"] = "a-new-uid"
    objs = [o for o in cluster(TWO, svc=live)] + stale
    r = reconciler(objs).slices()
    foreign = [(sr.slice.metadata.name, p) for sr in r.slices for p in sr.problems]
    assert [p.what for _, p in foreign] == ["foreign-owner"]
    name, p = foreign[0]
    assert name == stale[0]["metadata"]["name"] and "(uid a-new-uid)" in str(p.detail["reason"])
    assert p.since == OLD - timedelta(days=10) and p.exact


def test_new_and_deleted_services_and_terminating_namespaces_are_skipped() -> None:
    fresh = b.service("cart", NS, RECENT, selector={"app": "cart"})
    assert reconciler(cluster([*TWO, GONE], svc=fresh, slice_pods=TWO)).slices().services == []
    deleting = cart_service()
    deleting["metadata"]["deletionTimestamp"] = b.ts(OLD)
    assert reconciler(cluster([*TWO, GONE], svc=deleting, slice_pods=TWO)).slices().services == []
    objs = cluster([*TWO, GONE], slice_pods=TWO)
    objs[0]["metadata"]["deletionTimestamp"] = b.ts(OLD)
    objs[0]["status"]["phase"] = "Terminating"
    assert reconciler(objs).slices().services == []
    objs[0]["metadata"].pop("deletionTimestamp")
    assert reconciler(objs).slices().services == []  # Terminating alone


FROZEN_CASES = [
    ("selectorless", lambda: cart_service(selector=None), OLD, "no selector"),
    ("ExternalName", lambda: cart_service(svc_type="ExternalName"), OLD, "now type ExternalName"),
    ("written within the grace period", lambda: cart_service(selector=None), RECENT, None),
]


@pytest.mark.parametrize(("make_svc", "written", "reason"),
                         [pytest.param(s, w, r, id=i) for i, s, w, r in FROZEN_CASES])
def test_frozen_leftovers(make_svc: Callable[[], Obj], written: datetime, reason: str | None) -> None:
    svc = make_svc()
    slices = b.controller_slices(cart_service(), TWO, NODES, written)
    objs = [b.namespace(NS, OLD), *NODES.values(), svc, *TWO, *slices]
    r = reconciler(objs).slices()
    assert (r.slices, r.services) == ([], [])
    if reason is None:
        assert r.frozen == []
        return
    assert [p.what for sr in r.frozen for p in sr.problems] == ["frozen"]
    p = r.frozen[0].problems[0]
    assert reason in str(p.detail["reason"]) and (p.since, p.exact) == (written, False)


def test_empty_or_foreign_slices_are_not_frozen() -> None:
    empty = b.controller_slices(cart_service(), [], NODES, OLD)
    other = cart_service()
    other["metadata"]["uid"] = "someone-else"
    foreign = b.controller_slices(other, TWO, NODES, OLD)
    objs = [b.namespace(NS, OLD), *NODES.values(), cart_service(selector=None), *TWO, *empty, *foreign]
    assert reconciler(objs).slices().frozen == []


def test_slices_are_memoised_per_grace() -> None:
    index = ClusterIndex(state_from({"takenAt": b.ts(T), "objects": cluster(TWO, slice_pods=[*TWO, GONE])}))
    rec = Reconciler.of(index, GRACE)
    assert Reconciler.of(index, GRACE) is rec and Reconciler.of(index, 60) is not rec
    assert rec.slices() is rec.slices()
    assert Reconciler.of(index, 60).slices() is not rec.slices()


# -- the grace period ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("age", "grace", "recent"), [
    (119, 120, True), (120, 120, False), (121, 120, False), (0, 0, False), (59, 60, True)])
def test_recent_is_strictly_inside_the_grace_period(age: int, grace: int, recent: bool) -> None:
    rec = reconciler([], grace)
    assert rec.cutoff == T - timedelta(seconds=grace)
    assert rec.recent(T - timedelta(seconds=age)) is recent
    assert rec.recent(None) is False


def test_a_state_read_over_time_widens_the_grace_period() -> None:
    reads = {"Pod": [b.ts(T - timedelta(minutes=5)), b.ts(T - timedelta(minutes=4))],
             "EndpointSlice": [b.ts(T - timedelta(minutes=3)), b.ts(T)]}
    assert reconciler([], GRACE, consistent=False, kindReads=reads).cutoff == T - timedelta(minutes=5, seconds=GRACE)
    # a consistent read (one resourceVersion) is judged at its own time, whatever the reading window
    assert reconciler([], GRACE, consistent=True, kindReads=reads).cutoff == T - timedelta(seconds=GRACE)
    assert reconciler([], GRACE, consistent=False).cutoff == T - timedelta(seconds=GRACE)
    late = {"Pod": [b.ts(T + timedelta(minutes=1)), b.ts(T + timedelta(minutes=2))]}
    assert reconciler([], GRACE, consistent=False, kindReads=late).cutoff == T - timedelta(seconds=GRACE)


def test_in_flight_looks_at_the_objects_of_the_discrepancy_only() -> None:
    fresh_pod = cart_pod(5, created=RECENT)
    objs = [*NODES.values(), b.node("ip-new", RECENT, zone="eu-west-1a"), fresh_pod, TWO[0]]
    rec = reconciler(objs)
    pods = rec.index.pods
    fresh, old = pods[(NS, name_of(fresh_pod))], pods[(NS, name_of(TWO[0]))]
    assert rec.in_flight(pod=fresh) and not rec.in_flight(pod=old)
    assert rec.in_flight(pod=old, node="ip-new") and not rec.in_flight(pod=old, node=NODE_A)
    assert not rec.in_flight(node="not-a-node") and not rec.in_flight(node="")
    services = ClusterIndex(state_from({"takenAt": b.ts(T), "objects": [b.service("new", NS, RECENT),
                                                                         b.service("old", NS, OLD)]})).services
    assert rec.in_flight(service=services[(NS, "new")]) and not rec.in_flight(service=services[(NS, "old")])
    assert not rec.in_flight()
    assert rec.pod_changed(old) == OLD + timedelta(seconds=20)


# -- v1 Endpoints ----------------------------------------------------------------------------------------------

def endpoints_problems(rec: Reconciler) -> list[tuple[str, str, object]]:
    return [(rep.endpoints.metadata.name, rep.reason or p.what, p.detail.get("pod"))
            for rep in rec.endpoints() for p in (rep.problems or [Problem("", {}, None)])]


ENDPOINTS_CASES: list[tuple[str, Case, list[tuple[str, str, object]]]] = [
    ("reconciled", lambda: cluster(TWO), []),
    ("pod gone", lambda: cluster(TWO, endpoint_pods=[*TWO, GONE]), [("cart", "pod-gone", name_of(GONE))]),
    ("pod gone, written within the grace period", lambda: cluster(TWO, endpoint_pods=[*TWO, GONE], written=RECENT),
     []),
    ("pod recreated",
     lambda: cluster([TWO[0], b.replicaset_pod("cart", NS, 1, OLD + timedelta(minutes=5), labels={"app": "cart"},
                                               node_name=NODE_B, ips=["10.0.1.11"])], endpoint_pods=TWO),
     [("cart", "pod-recreated", name_of(TWO[1]))]),
    ("IP changed", lambda: cluster([TWO[0], cart_pod(1, ips=["10.0.1.99"])], endpoint_pods=TWO),
     [("cart", "ip-changed", name_of(TWO[1])), ("cart", "missing-ready-pod", name_of(TWO[1]))]),
    ("no longer selected",
     lambda: cluster([TWO[0], b.replicaset_pod("cart", NS, 1, OLD, labels={"app": "cart-canary"},
                                               node_name=NODE_B, ips=["10.0.1.11"])], endpoint_pods=TWO),
     [("cart", "not-selected", name_of(TWO[1]))]),
    ("a ready Pod missing", lambda: cluster([*TWO, GONE], endpoint_pods=TWO),
     [("cart", "missing-ready-pod", name_of(GONE))]),
    ("a terminating Pod is not missing",
     lambda: cluster([*TWO, cart_pod(2, deleting_at=OLD + timedelta(minutes=1))], endpoint_pods=TWO), []),
    ("a terminating Pod is missing with publishNotReadyAddresses",
     lambda: cluster([*TWO, cart_pod(2, deleting_at=OLD + timedelta(minutes=1))], svc=cart_service(pnra=True),
                     endpoint_pods=TWO), [("cart", "missing-ready-pod", name_of(GONE))]),
    ("a not-ready Pod is not missing",
     lambda: cluster([*TWO, cart_pod(2, ready=False)], endpoint_pods=TWO), []),
    ("a Pod no Service port resolves on is not missing",
     lambda: cluster([*TWO, GONE], svc=cart_service(ports=[{"name": "grpc", "port": 81, "protocol": "TCP",
                                                            "targetPort": "grpc"}]), endpoint_pods=TWO), []),
    ("service gone", lambda: [o for o in cluster(TWO) if o["kind"] != "Service"], [("cart", "service-gone", None)]),
    ("selector removed, no controller label: not frozen, its addresses still match",
     lambda: cluster(TWO, svc=cart_service(selector=None)), []),
    ("ExternalName leftover", lambda: cluster(TWO, svc=cart_service(svc_type="ExternalName")), []),
]


@pytest.mark.parametrize(("objs", "want"), [pytest.param(c, w, id=i) for i, c, w in ENDPOINTS_CASES])
def test_endpoints_discrepancies(objs: Case, want: list[tuple[str, str, object]]) -> None:
    assert endpoints_problems(reconciler(objs())) == want


def endpoints_of(objs: list[Obj]) -> Obj:
    return next(o for o in objs if o["kind"] == "Endpoints")


def test_frozen_endpoints_need_the_controllers_label() -> None:
    objs = cluster(TWO, svc=cart_service(selector=None))
    endpoints_of(objs)["metadata"]["labels"]["endpoints.kubernetes.io/managed-by"] = "endpoint-controller"
    assert endpoints_problems(reconciler(objs)) == [("cart", "frozen", None)]


@pytest.mark.parametrize("change", ["leader", "deleting", "namespace", "recent"])
def test_endpoints_left_alone(change: str) -> None:
    objs = [o for o in cluster(TWO, endpoint_pods=[*TWO, GONE]) if o["kind"] != "Service"]
    ep = endpoints_of(objs)
    if change == "leader":
        ep["metadata"]["annotations"]["control-plane.alpha.kubernetes.io/leader"] = '{"holderIdentity":"x"}'
    elif change == "deleting":
        ep["metadata"]["deletionTimestamp"] = b.ts(OLD)
    elif change == "namespace":
        objs[0]["status"]["phase"] = "Terminating"
    else:
        ep["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] = b.ts(RECENT)
    assert reconciler(objs).endpoints() == []


def test_endpoints_problem_details() -> None:
    rec = reconciler(cluster([TWO[0], cart_pod(1, ips=["10.0.1.99"], ready_at=OLD + timedelta(minutes=7))],
                             endpoint_pods=[TWO[0], TWO[1], GONE]))
    [rep] = rec.endpoints()
    got = [(p.what, p.detail, p.since, p.exact) for p in rep.problems]
    m1, m2 = TWO[1]["metadata"], GONE["metadata"]
    assert got == [
        ("ip-changed", {"pod": m1["name"], "uid": m1["uid"], "address": "10.0.1.11", "node": NODE_B},
         OLD + timedelta(minutes=7), True),
        ("pod-gone", {"pod": m2["name"], "uid": m2["uid"], "address": "10.0.1.12", "node": NODE_A}, OLD, False),
        ("missing-ready-pod", {"pod": m1["name"], "uid": m1["uid"], "address": "10.0.1.99", "node": NODE_B,
                               "zone": "eu-west-1b",
                               "conditions": {"ready": True, "serving": True, "terminating": False}},
         OLD + timedelta(minutes=7), True),
    ]


def test_endpoints_missing_reads_the_first_family_only() -> None:
    svc = cart_service(families=["IPv6", "IPv4"], cluster_ip="fd00:20::a")
    pods = [cart_pod(0, ips=["10.0.1.10", "fd00:10::a"]), cart_pod(1, ips=["10.0.1.11", "fd00:10::b"])]
    assert endpoints_problems(reconciler(cluster(pods, svc=svc))) == []
    lacking = cluster(pods, svc=svc, endpoint_pods=pods[:1])
    assert [(w, p) for _, w, p in endpoints_problems(reconciler(lacking))] == [("missing-ready-pod", name_of(pods[1]))]


def test_endpoints_missing_is_not_judged_when_truncated() -> None:
    objs = cluster([*TWO, GONE], endpoint_pods=TWO)
    endpoints_of(objs)["metadata"]["annotations"]["endpoints.kubernetes.io/over-capacity"] = "truncated"
    assert reconciler(objs).endpoints() == []


def test_endpoints_addresses_without_a_pod_or_uid() -> None:
    objs = cluster(TWO)
    ep = endpoints_of(objs)
    for a in ep["subsets"][0]["addresses"]:
        del a["targetRef"]["uid"]  # a hand-edited or mirrored-back object: the name still matches
    ep["subsets"][0]["addresses"].append({"ip": "10.0.9.9"})  # an external address: not judged
    ep["subsets"][0]["addresses"].append({"ip": "10.0.9.8", "targetRef": {"kind": "Node", "name": NODE_A}})
    assert reconciler(objs).endpoints() == []


def test_an_address_without_target_counts_as_listed() -> None:
    objs = cluster([*TWO, GONE], endpoint_pods=TWO)
    endpoints_of(objs)["subsets"][0]["addresses"].append({"ip": "10.0.1.12"})
    assert reconciler(objs).endpoints() == []


def test_a_pod_gone_from_a_node_created_within_grace_is_in_flight() -> None:
    moved = cart_pod(2, node="ip-new")
    objs = cluster(TWO, endpoint_pods=[*TWO, moved], nodes={**NODES, "ip-new": b.node("ip-new", RECENT,
                                                                                     zone="eu-west-1a")})
    assert reconciler(objs).endpoints() == []


def test_endpoints_are_memoised() -> None:
    rec = reconciler(cluster(TWO, endpoint_pods=[*TWO, GONE]))
    assert rec.endpoints() is rec.endpoints()


# -- mirrored slices -----------------------------------------------------------------------------------------

EXTERNAL = [("10.9.0.1", True), ("10.9.0.2", True), ("10.9.0.3", False)]


def legacy(addresses: list[tuple[str, bool]], *, written: datetime = OLD, labels: dict[str, str] | None = None,
           annotations: dict[str, str] | None = None, name: str = "legacy-pg") -> Obj:
    ready = [{"ip": ip} for ip, r in addresses if r]
    not_ready = [{"ip": ip} for ip, r in addresses if not r]
    sub: Obj = {"ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}
    if ready:
        sub["addresses"] = ready
    if not_ready:
        sub["notReadyAddresses"] = not_ready
    return {"kind": "Endpoints", "apiVersion": "v1",
            "metadata": b.meta(name, "db", written, labels=labels,
                               annotations={"endpoints.kubernetes.io/last-change-trigger-time": b.ts(written),
                                            **(annotations or {})}, seed=f"db/{name}/ep"),
            "subsets": [sub]}


def mirror(ep: Obj, addresses: list[tuple[str, bool]], *, written: datetime = OLD, owned: bool = True) -> Obj:
    owners = [b.owner("Endpoints", ep)] if owned else None
    name = ep["metadata"]["name"]
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1", "addressType": "IPv4",
            "metadata": b.meta(f"{name}-{b.suffix(str(addresses))}", "db", written,
                               labels={"kubernetes.io/service-name": name,
                                       "endpointslice.kubernetes.io/managed-by":
                                           "endpointslicemirroring-controller.k8s.io"},
                               annotations={"endpoints.kubernetes.io/last-change-trigger-time": b.ts(written)},
                               owners=owners),
            "endpoints": [{"addresses": [ip], "conditions": {"ready": r}} for ip, r in addresses],
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}


def legacy_service(name: str = "legacy-pg", **kw: Any) -> Obj:
    return b.service(name, "db", OLD - timedelta(days=10), selector=kw.pop("selector", None), **kw)


def mirror_problems(objs: list[Obj]) -> list[tuple[str, str, object]]:
    return [(p.what, str(p.detail["address"]), p.detail.get("ready")) for sr in reconciler(objs).stale_mirrors()
            for p in sr.problems]


def test_stale_mirror() -> None:
    ep = legacy(EXTERNAL)
    have = [("10.9.0.1", True), ("10.9.0.3", True), ("10.9.0.4", True)]
    objs = [legacy_service(), ep, mirror(ep, have)]
    assert mirror_problems(objs) == [("not-in-endpoints", "10.9.0.4", None), ("missing-from-mirror", "10.9.0.2", None),
                                     ("wrong-ready", "10.9.0.3", True)]
    [rep] = reconciler(objs).stale_mirrors()
    assert rep.slice.metadata.name == objs[2]["metadata"]["name"] and rep.service is not None
    assert {(p.since, p.exact) for p in rep.problems} == {(OLD, False)}


def test_mirrors_are_merged_across_slices() -> None:
    ep = legacy(EXTERNAL)
    objs = [legacy_service(), ep, mirror(ep, EXTERNAL[:1]), mirror(ep, EXTERNAL[1:], owned=False)]
    assert mirror_problems(objs) == []


def test_an_address_both_ready_and_not_is_ready() -> None:
    ep = legacy([("10.9.0.1", True), ("10.9.0.1", False)])
    assert mirror_problems([legacy_service(), ep, mirror(ep, [("10.9.0.1", True)])]) == []
    assert mirror_problems([legacy_service(), ep, mirror(ep, [("10.9.0.1", False)])]) == [
        ("wrong-ready", "10.9.0.1", False)]


@pytest.mark.parametrize("change", ["selector", "ExternalName", "no service", "skip-mirror", "leader", "deleting",
                                    "mirror written within grace", "endpoints written within grace", "no mirror",
                                    "mirror of another Endpoints"])
def test_mirrors_left_alone(change: str) -> None:
    labels = {"endpointslice.kubernetes.io/skip-mirror": "true"} if change == "skip-mirror" else None
    annotations = {"control-plane.alpha.kubernetes.io/leader": "{}"} if change == "leader" else None
    ep = legacy(EXTERNAL, labels=labels, annotations=annotations,
                written=RECENT if change == "endpoints written within grace" else OLD)
    if change == "deleting":
        ep["metadata"]["deletionTimestamp"] = b.ts(OLD)
    svc = legacy_service(selector={"app": "pg"} if change == "selector" else None,
                         svc_type="ExternalName" if change == "ExternalName" else "ClusterIP")
    slc = mirror(ep, EXTERNAL[:1], written=RECENT if change == "mirror written within grace" else OLD)
    if change == "mirror of another Endpoints":
        slc["metadata"]["ownerReferences"][0]["uid"] = "another"
    objs = [ep] + ([] if change == "no service" else [svc]) + ([] if change == "no mirror" else [slc])
    assert reconciler(objs).stale_mirrors() == []


# -- order and scope: every discrepancy of a slice, whatever comes before it ------------------------------------

def relabelled(i: int, **kw: Any) -> Obj:
    kw.setdefault("node_name", (NODE_A, NODE_B)[i % 2])
    return b.replicaset_pod("cart", NS, i, OLD, labels={"app": "cart-canary"}, ips=[f"10.0.1.{10 + i}"], **kw)


def reborn(i: int, created: datetime = OLD + timedelta(minutes=5)) -> Obj:
    return b.replicaset_pod("cart", NS, i, created, labels={"app": "cart"}, node_name=(NODE_A, NODE_B)[i % 2],
                            ips=[f"10.0.1.{10 + i}"])


#: (as the slice lists it, as the state has it now) per endpoint, in the slice's order
EVERY_KIND = [
    (cart_pod(1), None),                                                     # pod-gone
    (cart_pod(2), reborn(2)),                                                # pod-recreated
    (cart_pod(3), cart_pod(3, ips=["10.0.1.99"])),                           # ip-changed
    (cart_pod(4, node=NODE_GONE), cart_pod(4)),                              # node-gone
    (cart_pod(5, node=NODE_GONE), cart_pod(5, node=NODE_GONE)),              # bound to a deleted Node: skipped
    (cart_pod(6), relabelled(6)),                                            # not-selected
    (cart_pod(7), cart_pod(7, phase="Failed", ready=False, ready_at=OLD + timedelta(minutes=9))),  # pod-terminal
    (cart_pod(8), cart_pod(8, ready=False, ready_at=OLD + timedelta(minutes=9))),                  # wrong-ready
]


def test_every_discrepancy_of_one_slice_in_order() -> None:
    listed = [was for was, _ in EVERY_KIND]
    now = [p for _, p in EVERY_KIND if p is not None]
    objs = cluster(now, slice_pods=listed, endpoints=False)
    slc = next(o for o in objs if o["kind"] == "EndpointSlice")
    slc["endpoints"].insert(0, {"addresses": ["10.0.9.9"], "conditions": {"ready": True}})  # no targetRef: skipped
    r = reconciler(objs).slices()
    assert [(p.what, p.detail["pod"]) for sr in r.slices for p in sr.problems] == [
        ("pod-gone", name_of(listed[0])), ("pod-recreated", name_of(listed[1])), ("ip-changed", name_of(listed[2])),
        ("node-gone", name_of(listed[3])), ("not-selected", name_of(listed[5])), ("pod-terminal", name_of(listed[6])),
        ("wrong-ready", name_of(listed[7]))]


IN_FLIGHT_BY: list[tuple[str, Obj, Obj]] = [
    ("pod recreated, the slice rewritten within grace", cart_pod(1), reborn(1)),
    ("IP changed within grace", cart_pod(1), cart_pod(1, ips=["10.0.1.99"], ready_at=RECENT)),
    ("IP changed, the slice rewritten within grace", cart_pod(1), cart_pod(1, ips=["10.0.1.99"])),
    ("node gone, the Pod changed within grace", cart_pod(1, node=NODE_GONE), cart_pod(1, ready_at=RECENT)),
    ("node gone, the slice rewritten within grace", cart_pod(1, node=NODE_GONE), cart_pod(1)),
    ("not selected, the Pod changed within grace", cart_pod(1), relabelled(1, ready_at=RECENT)),
    ("not selected, the slice rewritten within grace", cart_pod(1), relabelled(1)),
]


@pytest.mark.parametrize(("listed", "now"), [pytest.param(was, p, id=i) for i, was, p in IN_FLIGHT_BY])
def test_slice_discrepancies_in_flight(request: pytest.FixtureRequest, listed: Obj, now: Obj) -> None:
    written = RECENT if "slice rewritten" in request.node.callspec.id else OLD
    r = reconciler(cluster([TWO[0], now], slice_pods=[TWO[0], listed], written=written)).slices()
    assert slice_problems(r) == []


def test_target_refs_in_another_namespace_or_without_one() -> None:
    objs = cluster(TWO)
    slc = next(o for o in objs if o["kind"] == "EndpointSlice")
    del slc["endpoints"][0]["targetRef"]["namespace"]  # a hand-written slice: the slice's namespace
    assert slice_problems(reconciler(objs).slices()) == []
    elsewhere = b.replicaset_pod("cart", "batch", 1, OLD, labels={"app": "cart"}, node_name=NODE_B, ips=["10.0.1.11"])
    slc["endpoints"][1]["targetRef"].update(namespace="batch", name=name_of(elsewhere),
                                            uid=elsewhere["metadata"]["uid"])
    objs.append(elsewhere)
    # the Pod it names exists, in another namespace: not one the Service selects
    assert slice_problems(reconciler(objs).slices()) == [("cart", "not-selected", name_of(elsewhere))]


def test_an_endpoint_without_node() -> None:
    objs = cluster(TWO, slice_pods=[*TWO, GONE])
    slc = next(o for o in objs if o["kind"] == "EndpointSlice")
    del slc["endpoints"][2]["nodeName"], slc["endpoints"][2]["zone"]
    p = only_problem(reconciler(objs).slices())
    assert (p.what, p.detail["node"], "zone" in p.detail) == ("pod-gone", "", False)


def test_a_target_ref_by_uid_only_still_makes_the_pod_present() -> None:
    objs = cluster(TWO)
    slc = next(o for o in objs if o["kind"] == "EndpointSlice")
    del slc["endpoints"][1]["targetRef"]["name"]  # a third-party writer naming the Pod by uid
    r = reconciler(objs).slices()
    assert r.services == []  # present by uid: not missing
    assert slice_problems(r) == [("cart", "pod-gone", "10.0.1.11")]  # but no Pod has an empty name


def test_missing_ready_pods_whatever_comes_before_them() -> None:
    pods = [cart_pod(0, ready=False, ready_at=OLD + timedelta(minutes=9)),   # not ready: not desired as ready
            cart_pod(1),                                                      # listed
            cart_pod(2, created=RECENT - timedelta(seconds=30)),              # missing, but in flight
            cart_pod(3)]                                                      # missing
    r = reconciler(cluster(pods, slice_pods=pods[:2])).slices()
    assert [p.detail["pod"] for rep in r.services for p in rep.missing_ready] == [name_of(pods[3])]


def test_a_missing_pod_on_a_node_that_changed_within_grace_is_in_flight() -> None:
    nodes = {**NODES, "ip-new": b.node("ip-new", RECENT, zone="eu-west-1a")}
    objs = cluster([*TWO, cart_pod(2, node="ip-new")], slice_pods=TWO, nodes=nodes)
    assert reconciler(objs).slices().services == []


def test_the_families_after_a_missing_one_are_checked() -> None:
    svc = cart_service(families=["IPv6", "IPv4"], cluster_ip="fd00:20::a")
    pods = [cart_pod(0, ips=["10.0.1.10", "fd00:10::a"]), cart_pod(1, ips=["10.0.1.11", "fd00:10::b"])]
    objs = [o for o in cluster(pods, svc=svc, slice_pods=pods[:1]) if o.get("addressType") != "IPv6"]
    r = reconciler(objs).slices()
    assert [(rep.missing_families, rep.ready_families_missing, [p.detail["pod"] for p in rep.missing_ready])
            for rep in r.services] == [(["IPv6"], {"IPv6": 2}, [name_of(pods[1])])]


def test_services_after_a_skipped_one_are_reconciled() -> None:
    deleting = b.service("a-deleting", NS, OLD - timedelta(days=10), selector={"app": "cart"})
    deleting["metadata"]["deletionTimestamp"] = b.ts(OLD)
    fresh = b.service("b-fresh", NS, RECENT, selector={"app": "cart"})
    selectorless = b.service("c-selectorless", NS, OLD - timedelta(days=10))
    objs = [deleting, fresh, selectorless, *cluster([*TWO, GONE], slice_pods=TWO)]
    r = reconciler(objs).slices()
    assert [rep.service.metadata.name for rep in r.services] == ["cart"]


def test_every_frozen_service_is_reported() -> None:
    one = cart_service(selector=None)
    two = b.service("web", NS, OLD - timedelta(days=10))
    slices = [*b.controller_slices(cart_service(), TWO, NODES, OLD),
              *b.controller_slices(b.service("web", NS, OLD - timedelta(days=10), selector={"app": "cart"}), TWO,
                                   NODES, OLD)]
    objs = [b.namespace(NS, OLD), *NODES.values(), one, two, *TWO, *slices]
    assert sorted(sr.service.metadata.name for sr in reconciler(objs).slices().frozen if sr.service) == ["cart", "web"]


# -- v1 Endpoints: details, scope and order ------------------------------------------------------------------

def test_endpoints_details_of_recreated_and_unselected_pods() -> None:
    reborn_pod = reborn(1)
    objs = cluster([TWO[0], reborn_pod, relabelled(2)], endpoint_pods=[TWO[0], TWO[1], cart_pod(2)])
    [rep] = reconciler(objs).endpoints()
    assert [(p.what, p.since, p.exact) for p in rep.problems] == [
        ("pod-recreated", OLD + timedelta(minutes=5, seconds=20), True), ("not-selected", OLD, False)]


@pytest.mark.parametrize("now", [
    pytest.param(cart_pod(1, ips=["10.0.1.99"], ready_at=RECENT), id="IP changed within grace"),
    pytest.param(relabelled(1, ready_at=RECENT), id="relabelled, the Pod changed within grace"),
    pytest.param(reborn(1, RECENT - timedelta(seconds=30)), id="recreated within grace"),
])
def test_endpoints_discrepancies_in_flight(now: Obj) -> None:
    objs = cluster([TWO[0], now], endpoint_pods=TWO)
    assert [p.what for rep in reconciler(objs).endpoints() for p in rep.problems if p.what != "missing-ready-pod"] \
        == []


def test_endpoints_targets_without_namespace_or_node() -> None:
    objs = cluster(TWO, endpoint_pods=[*TWO, GONE])
    addresses = endpoints_of(objs)["subsets"][0]["addresses"]
    for a in addresses:
        del a["targetRef"]["namespace"]  # the Endpoints' own namespace
    del addresses[2]["nodeName"]
    [rep] = reconciler(objs).endpoints()
    assert [(p.what, p.detail["pod"], p.detail["node"]) for p in rep.problems] == [("pod-gone", name_of(GONE), "")]


def test_an_ip_listed_for_another_pod_does_not_list_the_new_one() -> None:
    objs = cluster([*TWO, GONE], endpoint_pods=[*TWO, b.replicaset_pod("cart", NS, 9, OLD, labels={"app": "cart"},
                                                                         node_name=NODE_A, ips=["10.0.1.12"])])
    [rep] = reconciler(objs).endpoints()
    assert [p.what for p in rep.problems] == ["pod-gone", "missing-ready-pod"]
    assert rep.problems[1].detail["pod"] == name_of(GONE)


def test_endpoints_missing_pods_whatever_comes_before_them() -> None:
    no_port = cart_pod(4)
    no_port["spec"]["containers"][0]["ports"] = [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    pods = [cart_pod(0, deleting_at=OLD + timedelta(minutes=1)),  # terminating: not listed by the controller
            cart_pod(1),                                           # listed
            no_port,                                               # no Service port resolves: skipped
            cart_pod(3, created=RECENT - timedelta(seconds=30)),   # in flight
            cart_pod(5)]                                           # missing
    svc = cart_service(ports=[{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}])
    [rep] = reconciler(cluster(pods, svc=svc, endpoint_pods=[pods[1]])).endpoints()
    assert [(p.what, p.detail["pod"]) for p in rep.problems] == [("missing-ready-pod", name_of(pods[4]))]


def test_a_missing_not_ready_pod_of_a_publish_not_ready_service() -> None:
    unready = cart_pod(2, ready=False, ready_at=OLD + timedelta(minutes=9))
    [rep] = reconciler(cluster([*TWO, unready], svc=cart_service(pnra=True), endpoint_pods=TWO)).endpoints()
    [p] = rep.problems
    assert (p.what, p.detail["conditions"]) == (
        "missing-ready-pod", {"ready": False, "serving": False, "terminating": False})


def test_stale_mirrors_after_skipped_endpoints() -> None:
    objs: list[Obj] = []
    # in the state's order: no Service, no mirror, in step, in flight, then the stale one
    orphan = legacy(EXTERNAL, name="a-orphan")
    unmirrored = legacy(EXTERNAL, name="b-unmirrored")
    in_step = legacy(EXTERNAL, name="c-in-step")
    moving = legacy(EXTERNAL, name="d-moving")
    stale = legacy(EXTERNAL, name="e-stale")
    objs += [orphan, unmirrored, in_step, moving, stale]
    objs += [legacy_service(n) for n in ("b-unmirrored", "c-in-step", "d-moving", "e-stale")]
    objs += [mirror(orphan, EXTERNAL[:1]), mirror(in_step, EXTERNAL), mirror(moving, EXTERNAL[:1], written=RECENT),
             mirror(stale, EXTERNAL[:1])]
    assert [sr.slice.metadata.name.rsplit("-", 1)[0] for sr in reconciler(objs).stale_mirrors()] == ["e-stale"]


def test_endpoints_naming_a_node_that_is_gone() -> None:
    # prometheus-operator's kube-system/kubelet: one hand-written address per Node, targetRef kind Node (or, from
    # older writers, only nodeName); nothing but their writer updates them
    svc = b.service("kubelet", "kube-system", OLD - timedelta(days=30), selector=None, headless=True)
    addresses = [{"ip": "10.0.1.250", "targetRef": {"kind": "Node", "name": NODE_A}},
                 {"ip": "10.0.3.4", "targetRef": {"kind": "Node", "name": NODE_GONE}},
                 {"ip": "10.0.3.5", "nodeName": "ip-10-0-3-5.eu-west-1.compute.internal"},
                 {"ip": "10.9.0.1"}]
    ep = {"kind": "Endpoints", "apiVersion": "v1",
          "metadata": b.meta("kubelet", "kube-system", OLD, seed="kube-system/kubelet/ep",
                             labels={"app.kubernetes.io/managed-by": "prometheus-operator"}),
          "subsets": [{"addresses": addresses, "ports": [{"name": "https-metrics", "port": 10250, "protocol": "TCP"}]}]}
    [rep] = reconciler([*NODES.values(), svc, ep]).endpoints()
    assert [(p.what, p.detail, p.since, p.exact) for p in rep.problems] == [
        ("node-gone", {"node": NODE_GONE, "address": "10.0.3.4"}, OLD, False),
        ("node-gone", {"node": "ip-10-0-3-5.eu-west-1.compute.internal", "address": "10.0.3.5"}, OLD, False)]
    # without the Node kind, unknown is never gone
    assert reconciler([svc, ep], kinds=["Service", "Endpoints", "EndpointSlice", "Pod"]).endpoints() == []
