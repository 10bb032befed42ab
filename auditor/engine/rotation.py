"""The rotation summary of a before/after pair: what the upgrade did to nodes, Pods and Services."""
from __future__ import annotations

from collections import Counter
from typing import Any

from auditor.analysis.desired import service_ready_endpoints
from auditor.analysis.index import ClusterIndex
from auditor.engine import verdict
from auditor.facts.nodes import kubelet_version, node_group
from auditor.facts.slices import ready_count
from auditor.model import Finding
from auditor.state.objects import KubeObject


def _cp(index: ClusterIndex) -> str | None:
    return str(index.control_plane.version) if index.control_plane else None


def _node_key(n: KubeObject) -> tuple[str, str]:
    return (n.metadata.name, n.metadata.uid)


def _eks_groups(index: ClusterIndex) -> dict[str, dict[str, Any]]:
    eks = index.eks_data
    if eks is None:
        return {}
    return {ng.name: {k: v for k, v in (("version", ng.version), ("releaseVersion", ng.release_version),
                                        ("status", ng.status)) if v}
            for ng in eks.nodegroups if ng.name}


def summarise(before: ClusterIndex, after: ClusterIndex, findings: list[Finding],
              unrun: tuple[str, ...] = ()) -> dict[str, Any]:
    """The rotation summary; `converged` is the verdict (`auditor.engine.verdict`) of these findings, false when
    a convergence rule could not run (`unrun`)."""
    b_nodes = {_node_key(n): n for n in before.nodes.values()}
    a_nodes = {_node_key(n): n for n in after.nodes.values()}
    removed = [n for k, n in b_nodes.items() if k not in a_nodes]
    added = [n for k, n in a_nodes.items() if k not in b_nodes]
    groups: dict[tuple[str, str], dict[str, Any]] = {}

    def group(key: tuple[str, str]) -> dict[str, Any]:
        return groups.setdefault(key, {"name": key[1], "type": key[0], "before": 0, "after": 0, "removed": 0,
                                       "added": 0, "versionsBefore": set(), "versionsAfter": set()})

    for n in before.nodes.values():
        g = group(node_group(n))
        g["before"] += 1
        g["versionsBefore"].add(kubelet_version(n))
    for n in after.nodes.values():
        g = group(node_group(n))
        g["after"] += 1
        g["versionsAfter"].add(kubelet_version(n))
    for n in removed:
        group(node_group(n))["removed"] += 1
    for n in added:
        group(node_group(n))["added"] += 1
    eks = {**_eks_groups(before), **_eks_groups(after)}
    group_list = []
    for key in sorted(groups):
        g = groups[key]
        g["versionsBefore"] = sorted(v for v in g["versionsBefore"] if v)
        g["versionsAfter"] = sorted(v for v in g["versionsAfter"] if v)
        if key[0] == "eks-nodegroup" and key[1] in eks:
            g["eks"] = eks[key[1]]
        group_list.append(g)

    cp_before, cp_after = _cp(before), _cp(after)
    kind = _kind(group_list, removed, added, cp_before, cp_after)
    moved = _pods_moved(before, after)
    services, not_converged = _services(before, after, findings)
    return {
        "kind": kind,
        "controlPlane": {"before": cp_before, "after": cp_after},
        "nodes": {"before": len(before.nodes), "after": len(after.nodes),
                  "removed": sorted(n.metadata.name for n in removed)[:500],
                  "added": sorted(n.metadata.name for n in added)[:500],
                  "removedCount": len(removed), "addedCount": len(added)},
        "nodeGroups": group_list,
        "kubeletVersions": {"before": dict(Counter(kubelet_version(n) for n in before.nodes.values())),
                            "after": dict(Counter(kubelet_version(n) for n in after.nodes.values()))},
        "podsMoved": moved,
        "services": services,
        "servicesNotConverged": not_converged,
        "converged": verdict.converged(findings, unrun),
    }


def _kind(groups: list[dict[str, Any]], removed: list[KubeObject], added: list[KubeObject],
          cp_before: str | None, cp_after: str | None) -> str:
    cp_changed = cp_before is not None and cp_after is not None and cp_before != cp_after
    if not removed and not added:
        return "control plane only" if cp_changed else "no change"
    gone = [g for g in groups if g["before"] and not g["after"]]
    new = [g for g in groups if g["after"] and not g["before"]]
    if gone and new:
        kind = "blue/green node group migration"
    elif all(g["type"] == "karpenter-nodepool" for g in groups if g["removed"] or g["added"]):
        kind = "karpenter drift"
    elif all(g["removed"] and g["added"] for g in groups if g["removed"] or g["added"]):
        kind = "rolling node group update"
    else:
        kind = "node replacement"
    return f"control plane upgrade and {kind}" if cp_changed else kind


def _owner_key(p: KubeObject, memo: dict[tuple[str, str, str], tuple[str, str, str]] | None = None,
               ) -> tuple[str, str, str] | None:
    """The workload a Pod belongs to: its controller, or the Deployment behind its ReplicaSet."""
    for ref in p.metadata.owner_references or ():
        if ref.controller:
            raw = (p.metadata.namespace, ref.kind, ref.name)
            if memo is not None:
                hit = memo.get(raw)
                if hit is not None:
                    return hit
            key = raw
            if ref.kind == "ReplicaSet":
                rs_hash = (p.metadata.labels or {}).get("pod-template-hash")
                if rs_hash and ref.name.endswith(rs_hash) and ref.name[-len(rs_hash) - 1:-len(rs_hash)] == "-":
                    key = (p.metadata.namespace, "Deployment", ref.name[:-len(rs_hash) - 1])
            if memo is not None:
                memo[raw] = key
            return key
    return None


def _pods_moved(before: ClusterIndex, after: ClusterIndex) -> int:
    """Pods that moved: a Pod of the same name (StatefulSet) or the same owner is running on another node.

    Per owner, Pods that disappeared (uid gone) are paired with Pods that appeared (new uid); a
    replacement counts as moved unless a vanished Pod of that owner ran on the same node.
    """
    # a node replaced under the same name (VPC IP reused) is another machine: key on its uid too
    bkeys = {name: f"{name}/{n.metadata.uid}" for name, n in before.nodes.items()}
    akeys = {name: f"{name}/{n.metadata.uid}" for name, n in after.nodes.items()}
    memo: dict[tuple[str, str, str], tuple[str, str, str]] = {}
    after_uids = {p.metadata.uid for p in after.pods.values()}
    before_uids = {p.metadata.uid for p in before.pods.values()}
    vanished: dict[tuple[str, str, str], list[str]] = {}
    for p in before.pods.values():
        spec = p.spec
        if p.metadata.uid in after_uids or spec is None or not spec.node_name:
            continue
        k = _owner_key(p, memo)
        if k is not None:
            vanished.setdefault(k, []).append(bkeys.get(spec.node_name, spec.node_name))
    appeared: dict[tuple[str, str, str], list[str]] = {}
    moved = 0
    for key, p in after.pods.items():
        spec = p.spec
        if spec is None or not spec.node_name or p.metadata.uid in before_uids:
            continue
        node = akeys.get(spec.node_name, spec.node_name)
        same = before.pods.get(key)  # same name: a StatefulSet Pod reborn with a new uid
        if same is not None and same.spec is not None and same.spec.node_name:
            was = bkeys.get(same.spec.node_name, same.spec.node_name)
            moved += was != node
            k = _owner_key(same, memo)
            if k is not None and was in vanished.get(k, ()):
                vanished[k].remove(was)
            continue
        k = _owner_key(p, memo)
        if k is not None:
            appeared.setdefault(k, []).append(node)
    for k, nodes in appeared.items():
        gone = Counter(vanished.get(k, ()))
        pairs = min(len(nodes), sum(gone.values()))
        stayed = sum((Counter(nodes) & gone).values())
        moved += max(0, pairs - stayed)
    return moved


def _services(before: ClusterIndex, after: ClusterIndex,
              findings: list[Finding]) -> tuple[list[dict[str, Any]], list[str]]:
    held = verdict.services_held_back(findings)
    bad = set(held)
    rows = []
    for key in sorted(set(before.services) | set(after.services)):
        ns, name = key
        b = service_ready_endpoints(before, ns, name) if key in before.services else {}
        a = service_ready_endpoints(after, ns, name) if key in after.services else {}
        nb, na = sorted({e.node for e in b.values() if e.node}), sorted({e.node for e in a.values() if e.node})
        zb, za = sorted({e.zone for e in b.values() if e.zone}), sorted({e.zone for e in a.values() if e.zone})
        sid = f"{ns}/{name}"
        rb, ra = ready_count(b), ready_count(a)
        if rb == ra and nb == na and sid not in bad:
            continue
        rows.append({"namespace": ns, "name": name, "readyBefore": rb, "readyAfter": ra,
                     "nodesBefore": nb[:20], "nodesAfter": na[:20], "zonesBefore": zb, "zonesAfter": za,
                     "converged": sid not in bad, "deleted": key not in after.services})
    rows.sort(key=lambda r: (r["converged"], r["namespace"], r["name"]))
    return rows, held
