"""The EKS part of a report, built once from the typed EKS data (auditor.state.eksdata) and the index: pure.

Reports read this view (AuditResult.eks), never the raw boto3 dicts. Add-on compatibility is judged for the
target the rules used; where EKS data for that target was not collected, `compatible` is None ("unknown"),
never "no".
"""
from __future__ import annotations

from typing import Any

from auditor.analysis.index import ClusterIndex
from auditor.facts import versions
from auditor.facts.eks import compatibility, compatibility_targets
from auditor.facts.nodes import kubelet_version
from auditor.state.eksdata import HealthIssue

_INSIGHT_ORDER = {"ERROR": 0, "WARNING": 1, "UNKNOWN": 2, "PASSING": 3}


def _issue(i: HealthIssue) -> str:
    return f"{i.code}: {i.message}" if i.code and i.message else (i.code or i.message)


def eks_view(index: ClusterIndex, target_version: str | None) -> dict[str, Any] | None:
    eks = index.eks_data
    if eks is None:
        return None
    target = versions.parse(target_version or eks.target_version)
    groups = []
    for ng in eks.nodegroups:
        nodes = index.nodes_of_nodegroup(ng.name)
        sc = ng.scaling_config
        groups.append({
            "name": ng.name, "version": ng.version, "release": ng.release_version, "status": ng.status,
            "amiType": ng.ami_type, "capacityType": ng.capacity_type,
            "scaling": f"{sc.min_size}/{sc.desired_size}/{sc.max_size}" if sc is not None else "",
            "maxUnavailable": ng.max_unavailable_text(),
            "updateStrategy": ng.update_config.update_strategy if ng.update_config else "",
            "nodes": len(nodes) if index.has("Node") else None, "nodeNames": [n.name for n in nodes][:50],
            "kubeletVersions": sorted({v for v in map(kubelet_version, nodes) if v}),
            "issues": [_issue(i) for i in ng.issues], "ok": ng.status == "ACTIVE" and not ng.issues})
    addons = []
    for a in eks.addons:
        entry = compatibility(eks, a.addon_name, str(target)) if target else None
        default = entry.default_version if entry else None
        addons.append({"name": a.addon_name, "version": a.addon_version, "status": a.status,
                       "default": default or "", "isDefault": bool(default) and default == a.addon_version,
                       "compatible": None if entry is None else a.addon_version in entry.compatible_versions,
                       "issues": [_issue(i) for i in (a.health.issues if a.health else [])]})
    insights = [{"name": i.name or i.id, "id": i.id, "category": i.category, "version": i.kubernetes_version or "",
                 "status": i.status or "UNKNOWN", "reason": i.insight_status.reason if i.insight_status else "",
                 "recommendation": i.recommendation or "", "description": i.description} for i in eks.insights]
    insights.sort(key=lambda i: (_INSIGHT_ORDER.get(str(i["status"]), 2), str(i["name"])))
    cluster = eks.cluster
    return {"name": eks.name, "region": eks.region, "target": str(target) if target else "",
            "dataTarget": str(target) if target else "",
            "compatibilityCollectedFor": compatibility_targets(eks),
            "version": cluster.version, "platform": cluster.platform_version, "status": cluster.status,
            "issues": [_issue(i) for i in (cluster.health.issues if cluster.health else [])],
            "nodegroups": groups, "addons": addons, "insights": insights,
            "missing": [{"part": m.part, "reason": m.reason, **({"permission": m.permission} if m.permission else {})}
                        for m in eks.missing]}
