"""The blast radius of a planned rotation: per rotating node group, the Services at risk, worst first, with fixes.

Built from the rotation plan (`auditor.analysis.plan`) and the findings of the pre-rotation rules (`ROTATION_RULES`):
each finding names the node groups it concerns (`evidence.nodegroups`); a Service's risks in a group are the
findings on it there, its PodDisruptionBudgets that block the drain (`pdb-blocks-drain`, which names the
Services its held Pods back) and, for a Service already at risk, its single-zone placement. Pure: findings in,
a JSON-ready section out; the renderers only lay it out.

`predictions` serves compare and verify: the pre-rotation findings on BEFORE, by Service, so a
`service-lost-endpoints` or `service-outage` finding can say which risk predicted it.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditor.model import Finding, Severity

SERVICE_RULES = ("service-single-replica", "service-rotation-unprotected", "endpoints-without-readiness-probe",
                 "lb-target-readiness-gate-missing", "external-traffic-local-rotation")
PDB_RULE = "pdb-blocks-drain"
ZONE_RULE = "service-single-zone"
#: attached to the webhook configuration; its key names the Service the webhook calls, which is what rotates
WEBHOOK_RULE = "webhook-backend-at-risk"
PREFLIGHT_RULES = frozenset(SERVICE_RULES + (PDB_RULE, ZONE_RULE, WEBHOOK_RULE))
_WEIGHT = {Severity.ERROR: 100, Severity.WARNING: 10, Severity.INFO: 1}
#: What each risk asks of the team, in the words of the fix.
ADVICE = {
    "service-single-replica": "raise replicas",
    "service-rotation-unprotected": "add or tighten a PodDisruptionBudget",
    PDB_RULE: "relax the PodDisruptionBudget",
    "endpoints-without-readiness-probe": "add a readiness probe",
    ZONE_RULE: "spread across zones",
    "lb-target-readiness-gate-missing": "turn on the load balancer's Pod readiness gate",
    "external-traffic-local-rotation": "take the nodes out of the load balancer before the drain",
    WEBHOOK_RULE: "keep a webhook backend up (PodDisruptionBudget, replicas)",
}
SERVICE_LIMIT = 200  # Services listed per group; the rest are counted


def _groups(f: Finding) -> list[str]:
    ev = f.evidence
    value = ev.get("nodegroups")
    if isinstance(value, list):
        return [str(g) for g in value]
    single = ev.get("nodegroup")
    return [str(single)] if single else []


def _risk(f: Finding) -> dict[str, Any]:
    return {"rule": f.rule, "severity": f.severity.label, "message": f.message, "advice": ADVICE.get(f.rule, ""),
            "object": f.object.as_dict(), "fix": list(f.fix)}


def _service_keys(f: Finding) -> list[tuple[str, str]]:
    """The Services a risk concerns: those a PDB holds back, the Service a webhook calls, or the finding's object."""
    if f.rule == PDB_RULE:
        return _service_keys_of_pdb(f)
    if f.rule == WEBHOOK_RULE and "/" in f.key:
        ns, _, name = f.key.partition("/")
        return [(ns, name)]
    return [(f.object.namespace, f.object.name)]


def _service_keys_of_pdb(f: Finding) -> list[tuple[str, str]]:
    out = []
    for s in f.evidence.get("services") or []:
        text = str(s)
        ns, _, name = text.partition("/")
        out.append((ns, name) if name else (f.object.namespace, ns))
    return out


def blast_radius(plan: dict[str, Any] | None, findings: Iterable[Finding]) -> dict[str, Any] | None:
    """The section for report.json (`blastRadius`), or None without a decided plan."""
    if not plan or not plan.get("decided", True):
        return None
    findings = [f for f in findings if f.rule in PREFLIGHT_RULES]
    labels = {str(g.get("label", "")): g for g in plan.get("groups") or []}
    per_group: dict[str, dict[tuple[str, str], list[Finding]]] = {label: {} for label in labels}
    blockers: dict[str, list[Finding]] = {label: [] for label in labels}
    zone: dict[tuple[str, str], Finding] = {}
    for f in findings:
        if f.rule == ZONE_RULE:
            zone[(f.object.namespace, f.object.name)] = f
            continue
        for label in _groups(f):
            if label not in per_group:
                continue
            if f.rule == PDB_RULE:
                blockers[label].append(f)
            for key in _service_keys(f):
                per_group[label].setdefault(key, []).append(f)
    groups = []
    for label, g in labels.items():
        ranked = []  # (-score, namespace, name, the Service's distinct risks, worst first)
        for key, risks in per_group[label].items():
            unique = _unique(risks + [zone[key]] if key in zone else risks)
            ranked.append((-sum(_WEIGHT.get(f.severity, 0) for f in unique), key[0], key[1], unique))
        ranked.sort(key=lambda r: r[:3])
        # only the Services listed are laid out (thousands may be at risk: the rest are counted)
        services = [_service((ns, name), unique) for _, ns, name, unique in ranked[:SERVICE_LIMIT]]
        groups.append({"kind": g.get("kind", ""), "name": g.get("name", ""), "label": label,
                       "reason": g.get("reason", ""), "nodes": len(g.get("nodes") or []),
                       "atRisk": len(ranked), "worst": services[0]["risk"] if services else None,
                       "services": services, "more": max(0, len(ranked) - SERVICE_LIMIT),
                       "drainBlockers": [_risk(f) for f in blockers[label]]})
    groups.sort(key=lambda g: (-(g["services"][0]["score"] if g["services"] else 0), g["label"]))
    return {"how": plan.get("how", ""), "target": plan.get("target"), "groups": groups,
            "servicesAtRisk": len({(s["namespace"], s["name"]) for g in groups for s in g["services"]})}


def _unique(risks: list[Finding]) -> list[Finding]:
    """A Service's risks, one per rule and object, the most severe first."""
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for f in risks:
        k = (f.rule, f.object.namespace, f.object.name)
        if k not in seen:
            seen.add(k)
            unique.append(f)
    unique.sort(key=lambda f: (-f.severity, f.rule))
    return unique


def _service(key: tuple[str, str], unique: list[Finding]) -> dict[str, Any]:
    fixes: list[str] = []
    for f in unique:
        fixes += [c for c in f.fix if c not in fixes]
    worst = unique[0].severity
    return {"namespace": key[0], "name": key[1], "risk": worst.label,
            "score": sum(_WEIGHT.get(f.severity, 0) for f in unique),
            "advice": list(dict.fromkeys(ADVICE[f.rule] for f in unique if f.rule in ADVICE)),
            "risks": [_risk(f) for f in unique], "fix": fixes}


def predictions(findings: Iterable[Finding]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Pre-rotation findings on BEFORE by the Service they concern (PDB findings by the Services they name)."""
    out: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in findings:
        if f.rule not in PREFLIGHT_RULES:
            continue
        keys = _service_keys(f)
        entry = {"rule": f.rule, "severity": f.severity.label, "message": f.message, "object": f.object.as_dict()}
        for key in keys:
            out.setdefault(key, []).append(entry)
    return out
