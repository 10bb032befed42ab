"""The rotation plan: which nodes the upgrade will replace, by group, and how that was decided. Pure.

Decided from `--rotating` (names node groups; `karpenter:POOL` for Karpenter node pools) or, by default,
from the target version, as each kind of node is upgraded:

- an EKS managed node group whose version (EKS data) is below the target: all its nodes;
- without EKS data for a node, or for self-managed nodes: every node whose kubelet minor is below the target;
- Karpenter nodes whose NodeClaim has `Drifted=True` (drift replaces them whatever the target), and Karpenter
  nodes below the target: the EKS-optimised AMI alias resolves to the new minor once the control plane is
  upgraded, so their NodeClaims drift then;
- Fargate nodes never: Fargate Pods are redeployed one by one, each on its own new node.

One plan per index and options (`plan_of`): the rules and the report share it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from auditor.analysis.index import ClusterIndex
from auditor.facts import versions
from auditor.facts.eks import nodegroup_minor
from auditor.facts.nodes import eks_nodegroup, kubelet_version, node_group
from auditor.state.labels import LABEL_NODEPOOL
from auditor.state.objects import KubeObject

KARPENTER_PREFIX = "karpenter:"


@dataclass(frozen=True)
class PlanGroup:
    kind: str                 # "eks-nodegroup" | "karpenter-nodepool" | "unmanaged"
    name: str
    nodes: tuple[str, ...]    # names of the nodes that will be replaced, sorted
    reason: str

    @property
    def label(self) -> str:
        """How users name the group: `ng-blue`, `karpenter:default`, `unmanaged nodes`."""
        if self.kind == "karpenter-nodepool":
            return KARPENTER_PREFIX + self.name
        if self.kind == "unmanaged":
            return "unmanaged nodes"
        return self.name

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "label": self.label, "nodes": list(self.nodes),
                "reason": self.reason}


@dataclass(frozen=True)
class RotationPlan:
    groups: tuple[PlanGroup, ...]
    how: str
    target: str | None
    #: False when nothing said what rotates (no target, no --rotating, no drift): rules needing a plan do not run
    decided: bool = True
    _by_node: dict[str, PlanGroup] = field(init=False, repr=False, compare=False, default_factory=dict)

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(n for g in self.groups for n in g.nodes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_node", {n: g for g in self.groups for n in g.nodes})

    def group_of(self, node_name: str | None) -> PlanGroup | None:
        return self._by_node.get(node_name) if node_name else None

    def to_json(self) -> dict[str, Any]:
        return {"how": self.how, "target": self.target, "decided": self.decided,
                "groups": [g.to_json() for g in self.groups]}


class UnknownGroupError(ValueError):
    """A --rotating name that is no node group or node pool of the state; the message lists the known ones."""


def known_groups(index: ClusterIndex) -> tuple[list[str], list[str]]:
    """(EKS managed node groups, Karpenter node pools) the state knows: EKS data, Node labels, NodePools."""
    ngs = set(index.nodegroups) | {g for g in map(eks_nodegroup, index.nodes.values()) if g}
    pools = {n.labels[LABEL_NODEPOOL] for n in index.nodes.values() if n.labels.get(LABEL_NODEPOOL)}
    pools |= {p.name for p in index.of("NodePool") if p.name}
    pools |= {c.labels[LABEL_NODEPOOL] for c in index.of("NodeClaim") if c.labels.get(LABEL_NODEPOOL)}
    return sorted(ngs), sorted(pools)


def describe_known(index: ClusterIndex) -> str:
    ngs, pools = known_groups(index)
    parts = []
    if ngs:
        parts.append(", ".join(ngs))
    if pools:
        parts.append(", ".join(KARPENTER_PREFIX + p for p in pools))
    return "; ".join(parts) if parts else "none (no Node carries eks.amazonaws.com/nodegroup or karpenter.sh/nodepool)"


def check_rotating(index: ClusterIndex, names: Iterable[str]) -> None:
    """UnknownGroupError naming the first name the state does not know, and the names it does."""
    ngs, pools = known_groups(index)
    for raw in names:
        name = raw.strip()
        if name.startswith(KARPENTER_PREFIX):
            pool = name[len(KARPENTER_PREFIX):]
            if pool in pools:
                continue
            raise UnknownGroupError(f"{raw!r} is not a Karpenter node pool of this state "
                                    f"(known groups: {describe_known(index)})")
        if name in ngs:
            continue
        hint = f"; did you mean {KARPENTER_PREFIX}{name}?" if name in pools else ""
        raise UnknownGroupError(f"{raw!r} is not a node group of this state (known groups: "
                                f"{describe_known(index)}){hint}")


def drifted_nodes(index: ClusterIndex) -> dict[str, KubeObject]:
    """Node name -> its NodeClaim, for NodeClaims with condition Drifted=True and a status.nodeName."""
    out: dict[str, KubeObject] = {}
    for claim in index.of("NodeClaim"):
        st = claim.status
        if st is None or not st.node_name:
            continue
        if any(c.type == "Drifted" and c.status == "True" for c in st.conditions or ()):
            out[st.node_name] = claim
    return out


def _kubelet_minor(node: KubeObject) -> versions.Minor | None:
    return versions.parse(kubelet_version(node))


def _below(minors: Iterable[versions.Minor], target: versions.Minor) -> str:
    shown = sorted({str(m) for m in minors}, key=lambda s: versions.parse(s) or versions.Minor(0, 0))
    return f"kubelet {', '.join(shown)} below target {target}"


def _from_names(index: ClusterIndex, names: tuple[str, ...]) -> list[PlanGroup]:
    groups: dict[tuple[str, str], PlanGroup] = {}
    for raw in names:
        name = raw.strip()
        if name.startswith(KARPENTER_PREFIX):
            key = ("karpenter-nodepool", name[len(KARPENTER_PREFIX):])
        else:
            key = ("eks-nodegroup", name)
        if key in groups:
            continue
        nodes = sorted(n.name for n in index.nodes.values() if node_group(n) == key)
        groups[key] = PlanGroup(key[0], key[1], tuple(nodes), f"--rotating {raw.strip()}")
    return list(groups.values())


def _by_target(index: ClusterIndex, target: versions.Minor | None) -> list[PlanGroup]:
    eks = index.eks_data
    eks_versions = {ng.name: nodegroup_minor(ng) for ng in eks.nodegroups} if eks is not None else {}
    drifted = drifted_nodes(index)
    members: dict[tuple[str, str], list[str]] = {}
    reasons: dict[tuple[str, str], set[str]] = {}
    lagging: dict[tuple[str, str], list[versions.Minor]] = {}
    for node in index.nodes.values():
        key = node_group(node)
        if key[0] == "fargate":
            continue
        kv = _kubelet_minor(node)
        if key[0] == "eks-nodegroup" and eks_versions.get(key[1]) is not None:
            ng_version = eks_versions[key[1]]
            assert ng_version is not None
            if target is not None and ng_version < target:
                members.setdefault(key, []).append(node.name)
                reasons.setdefault(key, set()).add(f"EKS node group version {ng_version} below target {target}")
            continue
        is_drifted = key[0] == "karpenter-nodepool" and node.name in drifted
        is_below = target is not None and kv is not None and kv < target
        if is_drifted:
            reasons.setdefault(key, set()).add("NodeClaims Drifted")
        if is_below:
            assert kv is not None
            lagging.setdefault(key, []).append(kv)
        if is_drifted or is_below:
            members.setdefault(key, []).append(node.name)
    out = []
    for key in sorted(members):
        texts = sorted(reasons.get(key, set()))
        if key in lagging and target is not None:
            text = _below(lagging[key], target)
            if key[0] == "karpenter-nodepool":
                text += " (the EKS-optimised AMI alias drifts to the new minor after the control-plane upgrade)"
            texts.append(text)
        out.append(PlanGroup(key[0], key[1], tuple(sorted(members[key])), "; ".join(texts)))
    return out


def rotation_plan(index: ClusterIndex, target: versions.Minor | str | None, rotating: tuple[str, ...] = (),
                  *, strict: bool = True) -> RotationPlan:
    """The nodes the upgrade replaces. `strict`: a --rotating name the state does not know raises
    UnknownGroupError (the CLI validates before running rules); otherwise it plans an empty group."""
    t = versions.parse(target) if isinstance(target, str) else target
    target_text = str(t) if t is not None else None
    if rotating:
        if strict:
            check_rotating(index, rotating)
        groups = _from_names(index, rotating)
        return RotationPlan(tuple(groups), "--rotating " + ", ".join(g.label for g in groups), target_text)
    groups = _by_target(index, t)
    if t is None:
        if not groups:
            return RotationPlan((), "no target version and no --rotating: no node is known to rotate", None,
                                decided=False)
        return RotationPlan(tuple(groups), "Karpenter NodeClaims marked Drifted (no target version given)", None)
    if index.eks_data is not None and index.eks_data.nodegroups:
        how = (f"every EKS managed node group below the target {t}, and every other node whose kubelet is below "
               f"it or whose NodeClaim drifted")
    else:
        how = f"every node whose kubelet is below the target {t}, and Karpenter nodes whose NodeClaim drifted"
    return RotationPlan(tuple(groups), how, target_text)


def plan_of(index: ClusterIndex, target: str | None, rotating: tuple[str, ...]) -> RotationPlan:
    """The plan for these options, computed once per index (the rules and the report share it); lenient
    about unknown --rotating names (validated before the rules run)."""
    memo: dict[tuple[str | None, tuple[str, ...]], RotationPlan] = index.cache.setdefault("rotation-plan", {})
    key = (target, tuple(rotating))
    hit = memo.get(key)
    if hit is None:
        hit = memo[key] = rotation_plan(index, target, tuple(rotating), strict=False)
    return hit
