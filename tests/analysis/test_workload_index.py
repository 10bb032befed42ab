"""Workloads and disruption budgets around Pods (auditor.facts.workloads): ownership, replicas, PDB arithmetic."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
import pytest
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.analysis.workloads import budget_of, pdbs_selecting, pods_selected, workload_of
from auditor.facts.workloads import budget, follows_node, scaled
from auditor.state.objects import KubeObject

T = b.at("2026-11-20T10:00:00Z")
NODE = "ip-10-0-1-17.eu-west-1.compute.internal"


def index(objs: list[dict[str, Any]], kinds: list[str] | None = None) -> ClusterIndex:
    spec: dict[str, Any] = {"takenAt": b.ts(T), "objects": objs}
    if kinds is not None:
        spec["kinds"] = kinds
    return ClusterIndex(state_from(spec))


def dpod(app: str, i: int = 0, **kw: Any) -> dict[str, Any]:
    return b.replicaset_pod(app, "shop", i, T - timedelta(days=1), labels={"app": app}, node_name=NODE,
                            ips=[f"10.0.1.{10 + i}"], **kw)


@pytest.mark.parametrize("value,total,want", [
    (2, 5, 2), ("2", 5, 2), ("50%", 3, 2), ("10%", 3, 1), ("0%", 5, 0), ("100%", 4, 4), ("34%", 3, 2),
    (None, 3, None), ("lots", 3, None), ("x%", 3, None)])
def test_percentages_round_up_like_the_disruption_controller(value: Any, total: int, want: int | None) -> None:
    assert scaled(value, total) == want


def _pdb(**kw: Any) -> KubeObject:
    status = kw.pop("status", None)
    raw = b.pdb("p", "shop", T - timedelta(days=1), selector={"app": "cart"}, expected=3, healthy=3, desired=0,
                allowed=0, **kw)
    if status is None:
        del raw["status"]
    else:
        raw["status"].update(status)
    return b.kube_object(raw)


def test_budget_arithmetic() -> None:
    assert budget(_pdb(min_available="50%"), 3).desired_healthy == 2
    assert budget(_pdb(max_unavailable="34%"), 3).desired_healthy == 1  # ceil(1.02) = 2 may go
    assert budget(_pdb(max_unavailable=5), 3).desired_healthy == 0  # never below 0
    assert budget(_pdb(max_unavailable="100%"), 3).allows_losing_all
    assert budget(_pdb(min_available=0), 3).allows_losing_all
    assert not budget(_pdb(min_available=1), 3).allows_losing_all
    # status.expectedPods (the workload's scale) wins over the Pods counted
    with_status = budget(_pdb(min_available="100%", status={"expectedPods": 5}), 2)
    assert (with_status.expected, with_status.desired_healthy) == (5, 5)
    assert budget(_pdb(), 3).spec == "neither minAvailable nor maxUnavailable"
    assert budget(_pdb(), 3).desired_healthy == 0  # policy/v1 defaults neither


def test_pdbs_select_pods_of_their_namespace_by_label_selector() -> None:
    cart = [dpod("cart", i) for i in range(2)]
    other_ns = b.replicaset_pod("cart", "other", 0, T - timedelta(days=1), labels={"app": "cart"}, node_name=NODE,
                                ips=["10.0.1.99"])
    pdb = b.pdb("cart", "shop", T - timedelta(days=2), selector={"app": "cart"}, max_unavailable=1, expected=2,
                healthy=2, desired=1, allowed=1)
    everything = b.pdb("all", "shop", T - timedelta(days=2), selector={}, max_unavailable=1, expected=3,
                       healthy=3, desired=2, allowed=1)
    everything["spec"]["selector"] = {}
    exprs = b.pdb("exprs", "shop", T - timedelta(days=2), selector={}, max_unavailable=1, expected=2, healthy=2,
                  desired=1, allowed=1)
    exprs["spec"]["selector"] = {"matchExpressions": [{"key": "app", "operator": "In", "values": ["cart"]}]}
    none = b.pdb("none", "shop", T - timedelta(days=2), selector={}, max_unavailable=1, expected=0, healthy=0,
                 desired=0, allowed=0)
    del none["spec"]["selector"]
    idx = index([*cart, other_ns, dpod("web"), pdb, everything, exprs, none])
    by_name = {p.name: p for p in idx.of("PodDisruptionBudget")}
    assert sorted(p.name for p in pods_selected(idx, by_name["cart"])) == sorted(p["metadata"]["name"] for p in cart)
    assert len(pods_selected(idx, by_name["all"])) == 3  # {} selects every Pod of the namespace
    assert len(pods_selected(idx, by_name["exprs"])) == 2
    assert pods_selected(idx, by_name["none"]) == []  # an absent selector selects nothing
    pod = idx.pods[("shop", cart[0]["metadata"]["name"])]
    assert sorted(p.name for p in pdbs_selecting(idx, pod)) == ["all", "cart", "exprs"]
    assert pdbs_selecting(idx, idx.pods[("other", other_ns["metadata"]["name"])]) == []
    assert budget_of(idx, by_name["cart"]) is budget_of(idx, by_name["cart"])


def test_workload_of_follows_the_controllers_chain() -> None:
    dep, rs = b.deployment("cart", "shop", T - timedelta(days=9), replicas=3, labels={"app": "cart"})
    sts = b.statefulset("redis", "shop", T - timedelta(days=9), replicas=2, labels={"app": "redis"}, service="redis")
    ds = b.daemonset("agent", "shop", T - timedelta(days=9), labels={"app": "agent"}, nodes=1)
    pods = [dpod("cart"), b.statefulset_pod(sts, 0, T, node_name=NODE, ip="10.0.1.50"),
            b.daemonset_pod(ds, NODE, T, ip="10.0.1.17", host_network=True),
            b.pod("shell", "shop", T, labels={"run": "shell"}, node_name=NODE, ips=["10.0.1.60"])]
    idx = index([dep, rs, sts, ds, *pods])
    got = [workload_of(idx, idx.pods[("shop", p["metadata"]["name"])]) for p in pods]
    assert [(x.kind, x.name, x.replicas) for x in got] == [
        ("Deployment", "cart", 3), ("StatefulSet", "redis", 2), ("DaemonSet", "agent", None), ("Pod", "shell", None)]
    assert got[0].match_labels == {"app": "cart"} and got[0].ref == "deployment/cart" and got[0].scalable
    assert [follows_node(idx.pods[("shop", p["metadata"]["name"])]) for p in pods] == [False, False, True, False]
    # without ReplicaSets in the state the Deployment is inferred from the pod-template-hash; replicas unknown
    bare = index([pods[0]], kinds=["Pod", "Node", "Service", "Endpoints", "EndpointSlice"])
    inferred = workload_of(bare, bare.pods[("shop", pods[0]["metadata"]["name"])])
    assert (inferred.kind, inferred.name, inferred.replicas) == ("Deployment", "cart", None)
    assert inferred.match_labels == {"app": "cart"}  # the Pod's labels minus pod-template-hash


def test_static_pods_follow_their_node() -> None:
    mirror = b.pod("kube-proxy-" + NODE, "kube-system", T, labels={"k8s-app": "kube-proxy"}, node_name=NODE,
                   ips=["10.0.1.17"], host_network=True,
                   owner_ref={"apiVersion": "v1", "kind": "Node", "name": NODE, "uid": b.uid(NODE), "controller": True})
    mirror["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "3f2b1c"}
    assert follows_node(b.kube_object(mirror))
