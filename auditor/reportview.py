"""What the report templates see: groupings and derived numbers from an AuditResult, no formatting."""
from __future__ import annotations

from typing import Any

from auditor import __version__, reportgroups
from auditor.model import AuditResult, Finding, NotRun, RuleInfo, Severity

_INSIGHT_ORDER = {"ERROR": 0, "WARNING": 1, "UNKNOWN": 2, "PASSING": 3}
CHART_MAX_SERVICES = 40
SERVICE_LIMIT = 200  # Services in the HTML's per-Service view; the findings table holds the rest


def group_by_rule(findings: tuple[Finding, ...] | list[Finding]) -> dict[str, list[Finding]]:
    """Findings per rule, rules in order of their worst finding (findings arrive sorted worst first)."""
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.rule, []).append(f)
    return out


def not_run(result: AuditResult) -> dict[str, str]:
    """Rules that did not run in this result, with why, from AuditResult.runs (never from notice text)."""
    return {r.rule: r.detail or (r.reason.value if r.reason else "did not run") for r in result.runs if not r.ran}


def other_notices(result: AuditResult) -> list[str]:
    """The result's notices, less the engine's 'rule X did not run' lines: result.runs already says so."""
    echoed = {f"rule {r.rule} did not run: {r.detail}" for r in result.runs if not r.ran}
    return [n for n in result.notices if n not in echoed]


def rule_order(result: AuditResult, by_rule: dict[str, list[Finding]]) -> list[RuleInfo]:
    """Rules with findings first (worst first, as the findings are sorted), then the others by id."""
    known = {r.id: r for r in result.rules}
    ordered = [known.get(rid) or RuleInfo(rid, items[0].severity, rid, {}, items[0].remediation)
               for rid, items in by_rule.items()]
    return ordered + sorted((r for r in result.rules if r.id not in by_rule), key=lambda r: r.id)


def collection_notices(result: AuditResult) -> list[dict[str, Any]]:
    """What could not be read, and why: incomplete inputs, EKS parts that were denied, engine notices."""
    out: list[dict[str, Any]] = []
    incomplete = [i for i in result.inputs if not i.complete or i.missing]
    if result.mode != "audit" or len(result.inputs) == 1:
        for i in incomplete:
            out.append({"title": f"{i.path} is incomplete", "items": _missing_items(i.missing)})
    elif incomplete:
        # Merged inputs (several kubectl dumps): what one lacks another may hold; report what all lack.
        common: set[tuple[Any, Any]] | None = None if len(incomplete) == len(result.inputs) else set()
        for i in incomplete:
            kinds = {(m.get("kind"), m.get("namespace", "")) for m in i.missing}
            common = kinds if common is None else common & kinds
        if common:
            firsts: dict[tuple[Any, Any], dict[str, Any]] = {}
            for m in incomplete[0].missing:
                firsts.setdefault((m.get("kind"), m.get("namespace", "")), m)
            items = _missing_items(tuple(firsts[k] for k in firsts if k in common))
            out.append({"title": f"none of the {len(result.inputs)} inputs has every kind; together they lack",
                        "items": items})
    for i in result.inputs:
        for w in i.warnings:
            out.append({"title": f"{i.path}: {w}", "items": []})
    eks_missing = (result.eks or {}).get("missing") or []
    if eks_missing:
        items = []
        for m in eks_missing:
            perm = f" (needs {m['permission']})" if m.get("permission") else ""
            items.append(f"{m.get('part', '?')}: {m.get('reason', '')}{perm}")
        out.append({"title": "EKS data is incomplete", "items": items})
    for n in other_notices(result):
        out.append({"title": n, "items": []})
    # A rule that lacked data is a gap in the verdict; one disabled by config or needing EKS data that was
    # not asked for is a choice: those show in the rules list (and JUnit's skipped), not as a warning here.
    gaps = [r for r in result.runs if not r.ran and r.reason in (NotRun.KIND_MISSING, NotRun.NO_DATA)]
    if gaps:
        out.append({"title": f"{len(gaps)} rule(s) could not run on this data",
                    "items": [f"{r.rule}: {r.detail}" for r in gaps]})
    return out


def _missing_items(missing: tuple[dict[str, Any], ...]) -> list[str]:
    parts = []
    for m in missing:
        where = f" in {m['namespace']}" if m.get("namespace") else ""
        perm = f" (needs {m['permission']})" if m.get("permission") else ""
        parts.append(f"{m.get('kind', '?')}{where}: {m.get('reason', '')}{perm}")
    return parts


def _ints(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def rotation_view(rot: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rotation summary with defaults filled in and the chart's geometry computed."""
    if not rot:
        return None
    nodes = rot.get("nodes") or {}
    services = [dict(s) for s in rot.get("services") or []]
    # Not converged first; the engine already orders them so, but the chart must not depend on it.
    services.sort(key=lambda s: bool(s.get("converged", True)))
    charted = services[:CHART_MAX_SERVICES]
    top = max([1] + [max(_ints(s.get("readyBefore")), _ints(s.get("readyAfter"))) for s in charted])
    label_w, bar_w, row_h = 270, 380, 30
    bars = []
    for i, s in enumerate(charted):
        before, after = _ints(s.get("readyBefore")), _ints(s.get("readyAfter"))
        name = f"{s.get('namespace', '')}/{s.get('name', '')}"
        bars.append({
            "name": name, "label": name if len(name) <= 32 else name[:31] + "…",
            "y": 24 + i * row_h, "before": before, "after": after,
            "wb": round(bar_w * before / top, 1), "wa": round(bar_w * after / top, 1),
            "converged": bool(s.get("converged", True)),
        })
    groups = []
    for g in rot.get("nodeGroups") or []:
        groups.append({"name": g.get("name", ""), "type": g.get("type", ""), "before": _ints(g.get("before")),
                       "after": _ints(g.get("after")), "removed": _ints(g.get("removed")),
                       "added": _ints(g.get("added")), "versionsBefore": list(g.get("versionsBefore") or []),
                       "versionsAfter": list(g.get("versionsAfter") or []), "eks": g.get("eks") or {}})
    kb = rot.get("kubeletVersions") or {}
    versions = sorted(set(kb.get("before") or {}) | set(kb.get("after") or {}))
    return {
        "kind": rot.get("kind", ""),
        "controlPlane": rot.get("controlPlane") or {},
        "nodes": {"before": _ints(nodes.get("before")), "after": _ints(nodes.get("after")),
                  "removed": list(nodes.get("removed") or []), "added": list(nodes.get("added") or []),
                  "removedCount": _ints(nodes.get("removedCount", len(nodes.get("removed") or []))),
                  "addedCount": _ints(nodes.get("addedCount", len(nodes.get("added") or [])))},
        "nodeGroups": groups,
        "kubelet": [{"version": v, "before": _ints((kb.get("before") or {}).get(v)),
                     "after": _ints((kb.get("after") or {}).get(v))} for v in versions],
        "podsMoved": _ints(rot.get("podsMoved")),
        "services": services,
        "notConverged": list(rot.get("servicesNotConverged") or []),
        "converged": rot.get("converged"),
        "chart": {"bars": bars, "width": label_w + bar_w + 60, "height": 24 + len(bars) * row_h + 8,
                  "labelW": label_w, "barW": bar_w, "max": top, "left": len(services) - len(charted)},
    }


def eks_view(eks: dict[str, Any] | None, rotation: dict[str, Any] | None,
             cluster: dict[str, Any]) -> dict[str, Any] | None:
    """EKS cluster, node groups (with the Nodes Kubernetes sees in each), add-ons and insights."""
    if not eks:
        return None
    cl = eks.get("cluster") or {}
    # the version the rules judged against (may differ from the one the add-on data was read for)
    target = str(cluster.get("targetVersion") or eks.get("targetVersion") or "")
    data_target = str(eks.get("targetVersion") or target)
    seen: dict[str, int] = {}
    raw_counts = cluster.get("nodeGroups")
    if isinstance(raw_counts, dict):
        seen.update({str(k): _ints(v) for k, v in raw_counts.items()})
    for g in (rotation or {}).get("nodeGroups") or []:
        seen[str(g.get("name", ""))] = _ints(g.get("after"))
    groups = []
    for ng in eks.get("nodegroups") or []:
        name = ng.get("nodegroupName", "")
        scaling = ng.get("scalingConfig") or {}
        issues = (ng.get("health") or {}).get("issues") or []
        groups.append({"name": name, "version": ng.get("version", ""), "release": ng.get("releaseVersion", ""),
                       "status": ng.get("status", ""), "amiType": ng.get("amiType", ""),
                       "capacityType": ng.get("capacityType", ""),
                       "scaling": (f"{scaling.get('minSize', '?')}/{scaling.get('desiredSize', '?')}/"
                                   f"{scaling.get('maxSize', '?')}") if scaling else "",
                       "nodes": seen.get(name), "issues": [_issue(i) for i in issues],
                       "ok": ng.get("status") == "ACTIVE" and not issues})
    versions = eks.get("addonVersions") or {}
    addons = []
    for a in eks.get("addons") or []:
        name = a.get("addonName", "")
        info = versions.get(name) or {}
        compat = info.get("compatibleVersions")
        current = a.get("addonVersion", "")
        addons.append({"name": name, "version": current, "status": a.get("status", ""),
                       "default": info.get("defaultVersion", ""),
                       "isDefault": bool(info.get("defaultVersion")) and info.get("defaultVersion") == current,
                       "compatible": None if compat is None else current in compat,
                       "issues": [_issue(i) for i in (a.get("health") or {}).get("issues") or []]})
    insights = []
    for ins in eks.get("insights") or []:
        st = ins.get("insightStatus") or {}
        insights.append({"name": ins.get("name", ins.get("id", "")), "category": ins.get("category", ""),
                         "version": ins.get("kubernetesVersion", ""), "status": st.get("status", "UNKNOWN"),
                         "reason": st.get("reason", ""), "recommendation": ins.get("recommendation", ""),
                         "description": ins.get("description", "")})
    insights.sort(key=lambda i: (_INSIGHT_ORDER.get(i["status"], 2), i["name"]))
    return {"name": eks.get("clusterName") or cl.get("name", ""), "region": eks.get("region", ""),
            "target": target, "dataTarget": data_target, "version": cl.get("version", ""),
            "platform": cl.get("platformVersion", ""),
            "status": cl.get("status", ""), "issues": [_issue(i) for i in (cl.get("health") or {}).get("issues") or []],
            "nodegroups": groups, "addons": addons, "insights": insights,
            "missing": list(eks.get("missing") or [])}


def _issue(i: Any) -> str:
    if isinstance(i, dict):
        code = i.get("code", "")
        msg = i.get("message", "")
        return f"{code}: {msg}" if code and msg else str(code or msg)
    return str(i)


def verdict_detail(result: AuditResult) -> str:
    """Why the verdict is what it is: the threshold, and convergence for compare/verify."""
    if result.mode == "verify":  # verify passes or fails on convergence alone
        return "converged" if result.converged else "not converged"
    if result.fail_on is None:
        parts = ["fail-on never"]
    elif result.failed:
        parts = [f"findings at or above {result.fail_on.label}"]
    else:
        parts = [f"no finding at or above {result.fail_on.label}"]
    if result.converged is not None:
        parts.append("converged" if result.converged else "not converged")
    return " · ".join(parts)


def header(cluster: dict[str, Any], eks: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Where the state came from, as (label, value) pairs for the top of every report."""
    out = [(label, str(cluster[key])) for key, label in
           (("context", "context"), ("server", "server"), ("serverVersion", "Kubernetes")) if cluster.get(key)]
    if eks:
        text = " ".join(str(p) for p in (eks["name"], eks["version"]) if p)
        if eks["platform"]:
            text += f" ({eks['platform']})"
        if eks["region"]:
            text += f", {eks['region']}"
        out.append(("EKS", text))
        if eks["target"]:
            out.append(("target", str(eks["target"])))
    elif cluster.get("eksCluster"):
        out.append(("EKS", " ".join(str(cluster[k]) for k in ("eksCluster", "eksVersion", "eksPlatformVersion")
                                    if cluster.get(k))))
    return out


def build_view(result: AuditResult) -> dict[str, Any]:
    by_rule = group_by_rule(result.findings)
    rotation = rotation_view(result.rotation)
    eks = eks_view(result.eks, result.rotation, result.cluster or {})
    namespaces = sorted({f.object.namespace for f in result.findings if f.object.namespace})
    services, others = reportgroups.groups(result)
    focus = reportgroups.focus(services, others)
    return {
        "r": result, "counts": result.counts(), "by_rule": by_rule, "rules": {r.id: r for r in result.rules},
        "rule_order": rule_order(result, by_rule), "skipped": not_run(result),
        "notices": collection_notices(result), "tool_version": __version__,
        "verdict": "PASS" if result.passed else "FAIL", "verdict_detail": verdict_detail(result),
        "fail_on": result.fail_on.label if result.fail_on else "never",
        "severities": [s.label for s in sorted(Severity, reverse=True)],
        "namespaces": namespaces, "cluster": result.cluster or {},
        "rotation": rotation, "eks": eks, "header": header(result.cluster or {}, eks),
        "services": services, "focus": focus, "focus_left": len(services) + len(others) - len(focus),
        "focus_findings": reportgroups.FOCUS_FINDINGS, "service_limit": SERVICE_LIMIT,
    }
