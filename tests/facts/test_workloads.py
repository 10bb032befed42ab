"""auditor.facts.workloads: a Pod's controller, whether it follows its node, replicas, selectors, and what a
PodDisruptionBudget lets a drain take."""
from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from auditor.facts import workloads
from auditor.facts.workloads import Budget
from auditor.state.objects import KubeObject

NODE = "ip-10-0-1-17.eu-west-1.compute.internal"


def decode(raw: dict[str, Any]) -> KubeObject:
    """As the collector and snapshot reader do: JSON bytes straight into the typed object."""
    return msgspec.json.decode(json.dumps(raw).encode(), type=KubeObject)


def ref(kind: str, name: str, *, controller: bool | None = True, api: str = "apps/v1") -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": api, "kind": kind, "name": name, "uid": f"uid-{name}"}
    if controller is not None:
        out["controller"] = controller
        out["blockOwnerDeletion"] = True
    return out


def pod(owners: list[dict[str, Any]] | None = None, annotations: dict[str, str] | None = None) -> KubeObject:
    meta: dict[str, Any] = {"name": "p", "namespace": "shop", "uid": "uid-p", "creationTimestamp":
                            "2026-11-20T09:00:00Z", "labels": {"app": "cart"}}
    if owners is not None:
        meta["ownerReferences"] = owners
    if annotations is not None:
        meta["annotations"] = annotations
    return decode({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": {"nodeName": NODE}})


MIRROR = {"kubernetes.io/config.mirror": "3f2b1c9d8e7a6b5c", "kubernetes.io/config.source": "file"}


@pytest.mark.parametrize(("owners", "annotations", "controller", "follows"), [
    pytest.param([ref("ReplicaSet", "cart-7d9f8b6c4")], None, "ReplicaSet", False, id="a Deployment's Pod"),
    pytest.param([ref("StatefulSet", "redis")], None, "StatefulSet", False, id="a StatefulSet's Pod"),
    pytest.param([ref("DaemonSet", "aws-node")], None, "DaemonSet", True, id="a DaemonSet's Pod"),
    pytest.param([ref("Node", NODE, api="v1")], MIRROR, "Node", True, id="a static Pod's mirror (owner and note)"),
    pytest.param([ref("Node", NODE, api="v1")], None, "Node", True, id="owned by its Node"),
    pytest.param(None, MIRROR, None, True, id="the mirror annotation alone"),
    pytest.param([ref("DaemonSet", "x", controller=False), ref("ReplicaSet", "cart-7d9f8b6c4")], None,
                 "ReplicaSet", False, id="a non-controller DaemonSet reference does not count"),
    pytest.param([ref("DaemonSet", "x", controller=None), ref("Job", "backup", api="batch/v1")], None, "Job", False,
                 id="controller unset is not a controller"),
    pytest.param([ref("ReplicaSet", "cart-7d9f8b6c4"), ref("DaemonSet", "x")], None, "ReplicaSet", False,
                 id="the first controller reference decides"),
    pytest.param([ref("DaemonSet", "x", controller=False)], None, None, False, id="no controller at all"),
    pytest.param(None, {"kubectl.kubernetes.io/restartedAt": "2026-11-20T08:00:00Z"}, None, False,
                 id="a bare Pod"),
])
def test_controller_and_following_the_node(owners: list[dict[str, Any]] | None, annotations: dict[str, str] | None,
                                           controller: str | None, follows: bool) -> None:
    p = pod(owners, annotations)
    c = workloads.controller_of(p)
    assert (c.kind if c is not None else None) == controller
    assert workloads.follows_node(p) is follows


def workload(kind: str, spec: dict[str, Any] | None) -> KubeObject:
    raw: dict[str, Any] = {"kind": kind, "apiVersion": "apps/v1",
                           "metadata": {"name": "cart", "namespace": "shop", "uid": "uid-cart", "generation": 4}}
    if spec is not None:
        raw["spec"] = spec
    return decode(raw)


@pytest.mark.parametrize(("spec", "want"), [
    ({"replicas": 3, "selector": {"matchLabels": {"app": "cart"}}}, 3),
    ({"replicas": 0, "selector": {"matchLabels": {"app": "cart"}}}, 0),   # scaled to zero, not "unset"
    ({"selector": {"matchLabels": {"app": "cart"}}}, 1),                  # the API's default
    (None, None),
], ids=["3", "0", "unset: 1", "no spec"])
def test_replicas_of(spec: dict[str, Any] | None, want: int | None) -> None:
    assert workloads.replicas_of(workload("Deployment", spec)) == want


def test_replicas_of_nothing() -> None:
    assert workloads.replicas_of(None) is None


FALLBACK = {"app": "cart", "tier": "web"}


@pytest.mark.parametrize(("selector", "want"), [
    pytest.param({"matchLabels": {"app": "cart"}}, {"app": "cart"}, id="matchLabels"),
    pytest.param({"matchLabels": {"app": "cart"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web"]}]}, FALLBACK, id="with expressions: the fallback"),
    pytest.param({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, FALLBACK, id="expressions only"),
    pytest.param({}, FALLBACK, id="empty selector"),
    pytest.param(None, FALLBACK, id="no selector"),
])
def test_match_labels_of(selector: dict[str, Any] | None, want: dict[str, str]) -> None:
    spec: dict[str, Any] = {"replicas": 2}
    if selector is not None:
        spec["selector"] = selector
    assert workloads.match_labels_of(workload("Deployment", spec), FALLBACK) == want


def test_match_labels_of_nothing() -> None:
    assert workloads.match_labels_of(None, FALLBACK) is FALLBACK


@pytest.mark.parametrize("label", ["pod-template-hash", "controller-revision-hash",
                                   "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
                                   "pod-template-generation"])
def test_pod_only_labels(label: str) -> None:
    assert label in workloads.POD_ONLY_LABELS


@pytest.mark.parametrize(("value", "total", "want"), [
    (2, 5, 2), (0, 5, 0), (7, 3, 7), ("2", 5, 2), (" 2 ", 5, 2), ("50%", 3, 2), ("10%", 3, 1), ("0%", 5, 0),
    ("100%", 4, 4), ("34%", 3, 2), ("33%", 3, 1), ("1%", 100, 1), ("1%", 101, 2), ("25%", 8, 2), ("50%", 0, 0),
    (" 50% ", 4, 2), (None, 3, None), ("lots", 3, None), ("x%", 3, None), ("%", 3, None), ("", 3, None)])
def test_scaled_rounds_percentages_up(value: int | str | None, total: int, want: int | None) -> None:
    assert workloads.scaled(value, total) == want


def pdb(spec: dict[str, Any] | None, status: dict[str, Any] | None = None) -> KubeObject:
    raw: dict[str, Any] = {"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
                           "metadata": {"name": "cart", "namespace": "shop", "uid": "uid-pdb", "generation": 1}}
    if spec is not None:
        raw["spec"] = {"selector": {"matchLabels": {"app": "cart"}}, **spec}
    if status is not None:
        raw["status"] = {"observedGeneration": 1, "conditions": [], **status}
    return decode(raw)


STATUS = {"expectedPods": 5, "currentHealthy": 4, "desiredHealthy": 3, "disruptionsAllowed": 1}


@pytest.mark.parametrize(("spec", "status", "count", "want"), [
    pytest.param({"maxUnavailable": 1}, None, 3, Budget(3, 2, None, None, "maxUnavailable 1"),
                 id="maxUnavailable 1 of the Pods counted"),
    pytest.param({"maxUnavailable": "34%"}, None, 3, Budget(3, 1, None, None, "maxUnavailable 34%"),
                 id="maxUnavailable 34%: ceil(1.02) = 2 may go"),
    pytest.param({"maxUnavailable": 5}, None, 3, Budget(3, 0, None, None, "maxUnavailable 5"),
                 id="more than there are: never below 0"),
    pytest.param({"maxUnavailable": 0}, None, 3, Budget(3, 3, None, None, "maxUnavailable 0"),
                 id="maxUnavailable 0: every Pod must stay"),
    pytest.param({"maxUnavailable": "all"}, None, 3, Budget(3, 3, None, None, "maxUnavailable all"),
                 id="an unreadable maxUnavailable takes nothing"),
    pytest.param({"minAvailable": "50%"}, None, 3, Budget(3, 2, None, None, "minAvailable 50%"),
                 id="minAvailable 50% rounds up"),
    pytest.param({"minAvailable": 2}, None, 3, Budget(3, 2, None, None, "minAvailable 2"), id="minAvailable 2"),
    pytest.param({"minAvailable": "many"}, None, 3, Budget(3, 0, None, None, "minAvailable many"),
                 id="an unreadable minAvailable keeps nothing"),
    pytest.param({"minAvailable": "100%"}, STATUS, 2, Budget(5, 5, 1, 4, "minAvailable 100%"),
                 id="status.expectedPods wins over the Pods counted"),
    pytest.param({"maxUnavailable": 1, "minAvailable": 4}, None, 5, Budget(5, 4, None, None, "maxUnavailable 1"),
                 id="both (the API refuses it; a hand-written file): maxUnavailable first"),
    pytest.param({}, None, 3, Budget(3, 0, None, None, "neither minAvailable nor maxUnavailable"),
                 id="policy/v1 defaults neither"),
    pytest.param(None, {"currentHealthy": 2, "disruptionsAllowed": 0}, 2,
                 Budget(2, 0, 0, 2, "neither minAvailable nor maxUnavailable"),
                 id="no spec, a status without expectedPods"),
])
def test_budget(spec: dict[str, Any] | None, status: dict[str, Any] | None, count: int, want: Budget) -> None:
    assert workloads.budget(pdb(spec, status), count) == want


@pytest.mark.parametrize(("desired", "losing_all"), [(0, True), (-1, True), (1, False)])
def test_allows_losing_all(desired: int, losing_all: bool) -> None:
    assert Budget(3, desired, None, None, "x").allows_losing_all is losing_all


@pytest.mark.parametrize(("b", "want"), [
    (Budget(3, 2, None, None, "maxUnavailable 1"),
     {"spec": "maxUnavailable 1", "expectedPods": 3, "desiredHealthy": 2}),
    (Budget(5, 5, 0, 4, "minAvailable 100%"),
     {"spec": "minAvailable 100%", "expectedPods": 5, "desiredHealthy": 5, "disruptionsAllowed": 0,
      "currentHealthy": 4}),
], ids=["without status", "with status (zeros kept)"])
def test_budget_to_json(b: Budget, want: dict[str, Any]) -> None:
    assert b.to_json() == want
