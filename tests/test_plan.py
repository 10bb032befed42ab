"""The rotation plan: which nodes the upgrade replaces, by group, and how that was decided (auditor.analysis.plan)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import builders as b
import pytest
from builders import state_from

from auditor.analysis.index import ClusterIndex
from auditor.analysis.plan import UnknownGroupError, check_rotating, plan_of, rotation_plan
from auditor.facts.versions import Minor

T = b.at("2026-11-20T10:00:00Z")
K130, K131 = "v1.30.4-eks-a737599", "v1.31.2-eks-7f9249a"


def _node(name: str, kubelet: str, **kw: Any) -> dict[str, Any]:
    return b.node(name, T - timedelta(days=5), zone=kw.pop("zone", "eu-west-1a"), kubelet=kubelet, **kw)


BLUE = [_node("ip-10-0-1-17.eu-west-1.compute.internal", K130, nodegroup="ng-blue"),
        _node("ip-10-0-2-18.eu-west-1.compute.internal", K130, nodegroup="ng-blue", zone="eu-west-1b")]
GREEN = [_node("ip-10-0-1-40.eu-west-1.compute.internal", K131, nodegroup="ng-green")]
SELF = [_node("ip-10-0-5-9.eu-west-1.compute.internal", K130)]
KARP_OLD = _node("ip-10-0-4-50.eu-west-1.compute.internal", K130, nodepool="default")
KARP_NEW = _node("ip-10-0-4-51.eu-west-1.compute.internal", K131, nodepool="default")
KARP_DRIFT = _node("ip-10-0-4-52.eu-west-1.compute.internal", K131, nodepool="spot")
_fargate = _node("fargate-ip-10-0-3-9.eu-west-1.compute.internal", K130)
_fargate["metadata"]["labels"]["eks.amazonaws.com/compute-type"] = "fargate"
FARGATE = _fargate


def index(objs: list[dict[str, Any]], eks: dict[str, Any] | None = None) -> ClusterIndex:
    spec: dict[str, Any] = {"takenAt": b.ts(T), "serverVersion": K131, "objects": objs}
    if eks is not None:
        spec["eks"] = eks
    return ClusterIndex(state_from(spec))


def names(nodes: list[dict[str, Any]]) -> tuple[str, ...]:
    return tuple(sorted(n["metadata"]["name"] for n in nodes))


def eks(**versions: str) -> dict[str, Any]:
    return {"clusterName": "shop-prod", "region": "eu-west-1",
            "cluster": {"name": "shop-prod", "version": "1.31", "status": "ACTIVE"},
            "nodegroups": [{"nodegroupName": ng, "version": v, "status": "ACTIVE", "releaseVersion": f"{v}.4-20241121"}
                           for ng, v in versions.items()]}


def test_default_with_a_target_is_every_node_whose_kubelet_is_below_it() -> None:
    idx = index([*BLUE, *GREEN, *SELF, FARGATE])
    plan = rotation_plan(idx, Minor(1, 31), ())
    assert [(g.kind, g.name, g.nodes) for g in plan.groups] == [
        ("eks-nodegroup", "ng-blue", names(BLUE)), ("unmanaged", "unmanaged", names(SELF))]
    assert plan.groups[0].reason == "kubelet 1.30 below target 1.31"
    assert plan.decided and plan.target == "1.31" and "kubelet is below the target 1.31" in plan.how
    assert FARGATE["metadata"]["name"] not in plan.nodes  # Fargate Pods are redeployed, never rotated by group
    assert plan.group_of(BLUE[0]["metadata"]["name"]) is plan.groups[0]
    assert plan.group_of(GREEN[0]["metadata"]["name"]) is None and plan.group_of("") is None
    # the target may be given as the options carry it, a string
    assert rotation_plan(idx, "1.31", ()).nodes == plan.nodes


def test_with_eks_data_a_managed_node_group_below_the_target_rotates_whole() -> None:
    # ng-green is at 1.31 in EKS although one of its nodes still runs kubelet 1.30: the group's version decides
    lagging_green = _node("ip-10-0-1-41.eu-west-1.compute.internal", K130, nodegroup="ng-green")
    idx = index([*BLUE, *GREEN, lagging_green, *SELF], eks=eks(**{"ng-blue": "1.30", "ng-green": "1.31"}))
    plan = rotation_plan(idx, Minor(1, 31), ())
    assert [(g.name, g.nodes) for g in plan.groups] == [("ng-blue", names(BLUE)), ("unmanaged", names(SELF))]
    assert plan.groups[0].reason == "EKS node group version 1.30 below target 1.31"
    assert "every EKS managed node group below the target 1.31" in plan.how


def test_karpenter_nodes_rotate_when_drifted_or_below_the_target() -> None:
    claims = [b.nodeclaim("spot", KARP_DRIFT, T - timedelta(days=3), drifted=True),
              b.nodeclaim("default", KARP_NEW, T - timedelta(days=3), drifted=False),
              b.nodeclaim("default", KARP_OLD, T - timedelta(days=3), drifted=False)]
    idx = index([KARP_OLD, KARP_NEW, KARP_DRIFT, *claims, b.nodepool("default", T - timedelta(days=30))])
    plan = rotation_plan(idx, Minor(1, 31), ())
    by_name = {g.name: g for g in plan.groups}
    assert set(by_name) == {"default", "spot"} and all(g.kind == "karpenter-nodepool" for g in plan.groups)
    assert by_name["spot"].nodes == names([KARP_DRIFT]) and by_name["spot"].reason == "NodeClaims Drifted"
    assert by_name["default"].nodes == names([KARP_OLD])  # KARP_NEW is at the target and not drifted
    assert "AMI alias" in by_name["default"].reason and by_name["default"].label == "karpenter:default"
    # drift replaces nodes whatever the target: without one, the drifted nodes are still the plan
    no_target = rotation_plan(idx, None, ())
    assert no_target.decided and no_target.nodes == frozenset(names([KARP_DRIFT]))
    assert "Drifted" in no_target.how


def test_no_target_and_no_rotating_is_an_undecided_empty_plan() -> None:
    plan = rotation_plan(index([*BLUE, *GREEN]), None, ())
    assert not plan.decided and plan.groups == () and plan.nodes == frozenset()
    assert plan.how == "no target version and no --rotating: no node is known to rotate"
    assert plan.to_json() == {"how": plan.how, "target": None, "decided": False, "groups": []}


def test_rotating_names_the_groups_and_karpenter_prefix() -> None:
    idx = index([*BLUE, *GREEN, KARP_OLD, KARP_NEW])
    plan = rotation_plan(idx, Minor(1, 31), ("ng-green", "karpenter:default", "ng-green"))
    assert [(g.kind, g.name, g.nodes, g.reason) for g in plan.groups] == [
        ("eks-nodegroup", "ng-green", names(GREEN), "--rotating ng-green"),
        ("karpenter-nodepool", "default", names([KARP_OLD, KARP_NEW]), "--rotating karpenter:default")]
    assert plan.how == "--rotating ng-green, karpenter:default"
    assert plan.to_json()["groups"][1] == {"kind": "karpenter-nodepool", "name": "default",
                                           "label": "karpenter:default",
                                           "nodes": list(names([KARP_OLD, KARP_NEW])),
                                           "reason": "--rotating karpenter:default"}


def test_an_unknown_rotating_name_is_an_error_listing_the_known_groups() -> None:
    idx = index([*BLUE, *GREEN, KARP_OLD])
    with pytest.raises(UnknownGroupError) as exc:
        rotation_plan(idx, None, ("ng-purple",))
    assert "'ng-purple' is not a node group" in str(exc.value)
    assert "ng-blue, ng-green; karpenter:default" in str(exc.value)
    with pytest.raises(UnknownGroupError, match="did you mean karpenter:default"):
        check_rotating(idx, ["default"])
    with pytest.raises(UnknownGroupError, match="not a Karpenter node pool"):
        check_rotating(idx, ["karpenter:spot"])
    check_rotating(idx, ["ng-blue", "karpenter:default"])
    # the rules' lenient form plans an empty group instead (names were validated before the rules ran)
    lenient = rotation_plan(idx, None, ("ng-purple",), strict=False)
    assert lenient.groups[0].nodes == () and lenient.decided


def test_eks_node_groups_without_nodes_are_known() -> None:
    idx = index([*GREEN], eks=eks(**{"ng-blue": "1.30", "ng-green": "1.31"}))
    check_rotating(idx, ["ng-blue"])  # EKS lists it, no Node of it is left


def test_plan_of_is_computed_once_per_index_and_options() -> None:
    idx = index([*BLUE, *GREEN])
    first = plan_of(idx, "1.31", ())
    assert plan_of(idx, "1.31", ()) is first
    assert plan_of(idx, None, ("ng-green",)) is not first
