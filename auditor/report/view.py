"""What the report templates see: groupings and derived numbers from an AuditResult, no formatting."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from auditor import __version__
from auditor.model import CONVERGENCE_MODES, UNRUN_PREFIX, AuditResult, Finding, Gate, NotRun, RuleInfo, Severity
from auditor.report import groups as reportgroups

_INSIGHT_ORDER = {"ERROR": 0, "WARNING": 1, "UNKNOWN": 2, "PASSING": 3}
CHART_MAX_SERVICES = 40
SERVICE_LIMIT = 200  # Services in the HTML's per-Service view; the findings table holds the rest
INFO_LIMIT = 200  # info findings listed per rule in the HTML's info section; the findings table holds the rest


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


def _versions(plane: Any) -> dict[str, str]:
    """The control plane's before/after versions as text: a side that is not known says so (never `None`)."""
    plane = plane if isinstance(plane, dict) else {}
    return {side: str(v) if v not in (None, "") else "unknown" for side in ("before", "after")
            for v in (plane.get(side),)}


def rotation_view(rot: dict[str, Any] | None, converged: bool | None) -> dict[str, Any] | None:
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
        "controlPlane": _versions(rot.get("controlPlane")),
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
        "converged": converged,
        "chart": {"bars": bars, "width": label_w + bar_w + 60, "height": 24 + len(bars) * row_h + 8,
                  "labelW": label_w, "barW": bar_w, "max": top, "left": len(services) - len(charted)},
    }


def plan_view(plan: dict[str, Any] | None) -> dict[str, Any] | None:
    """The rotation plan as every report shows it: how it was decided, and the groups with their node counts."""
    if not plan:
        return None
    groups = [{"label": str(g.get("label", "")), "kind": g.get("kind", ""), "nodes": list(g.get("nodes") or []),
               "reason": g.get("reason", "")} for g in plan.get("groups") or []]
    return {"how": plan.get("how", ""), "target": plan.get("target"), "decided": plan.get("decided", True),
            "groups": groups, "nodes": sum(len(g["nodes"]) for g in groups)}


TIMELINE_MAX_SERVICES = 24


def _epoch(text: Any) -> float | None:
    """An ISO time of report.json (`...Z`) as epoch seconds; None when it is not one."""
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=timezone.utc)).timestamp()


def _with_target_counts(s: dict[str, Any]) -> dict[str, Any]:
    """A timeline row with its load balancer's side summed up: healthy targets first and lowest, and the states
    its targets were seen in (`initial`, `draining`, `unhealthy`...)."""
    groups = s.get("targetGroups") or []
    if not groups:
        return s
    firsts = [_ints((g.get("samples") or [{}])[0].get("healthy")) for g in groups]
    lows = [min([_ints(x.get("healthy")) for x in g.get("samples") or []] or [0]) for g in groups]
    seen = sorted({st for g in groups for x in g.get("samples") or [] for st, n in (x.get("states") or {}).items()
                   if n and st != "healthy"})
    return {**s, "healthyFirst": sum(firsts), "healthyMin": min(lows), "targetStates": seen}


def timeline_view(tl: dict[str, Any] | None) -> dict[str, Any] | None:
    """verify's timeline with the chart's geometry: one row per Service (those that went down first), its
    ready count as a step line over the run, its outages as marked spans."""
    if not tl:
        return None
    start, end = _epoch(tl.get("from")), _epoch(tl.get("to"))
    if start is None or end is None:
        return None
    span = max(end - start, 1e-3)
    services = [_with_target_counts(dict(s)) for s in tl.get("services") or []]
    down = [s for s in services if s.get("outages")]
    label_w, plot_w, row_h, plot_h = 270, 520, 44, 30
    rows = []
    for i, s in enumerate(services[:TIMELINE_MAX_SERVICES]):
        samples = [(t, _ints(p.get("ready"))) for p in s.get("samples") or [] if (t := _epoch(p.get("at"))) is not None]
        top = max([1, _ints(s.get("readyBefore"))] + [c for _, c in samples])
        y0 = 20 + i * row_h

        def x(t: float) -> float:
            return round(label_w + plot_w * min(max((t - start) / span, 0.0), 1.0), 1)

        def y(c: int) -> float:
            return round(y0 + plot_h - plot_h * c / top, 1)  # noqa: B023 - used within this iteration only

        points: list[str] = []
        for j, (t, c) in enumerate(samples):
            if j:
                points.append(f"{x(t)},{y(samples[j - 1][1])}")
            points.append(f"{x(t)},{y(c)}")
        if samples:
            points.append(f"{x(end)},{y(samples[-1][1])}")
        spans = []
        for o in s.get("outages") or []:
            a = _epoch(o.get("from"))
            b = _epoch(o.get("to")) if o.get("to") else end
            if a is not None and b is not None:
                spans.append({"x": x(a), "w": max(1.5, round(x(b) - x(a), 1)), "from": o.get("from"),
                              "to": o.get("to")})
        lb_spans = []
        for o in s.get("lbOutages") or []:
            a = _epoch(o.get("from"))
            b = _epoch(o.get("to")) if o.get("to") else end
            if a is not None and b is not None:
                lb_spans.append({"x": x(a), "w": max(1.5, round(x(b) - x(a), 1)), "from": o.get("from"),
                                 "to": o.get("to")})
        name = f"{s.get('namespace', '')}/{s.get('name', '')}"
        rows.append({"name": name, "label": name if len(name) <= 32 else name[:31] + "…", "y": y0,
                     "points": " ".join(points), "spans": spans, "lbSpans": lb_spans, "top": top,
                     "down": float(s.get("downSeconds") or 0), "before": _ints(s.get("readyBefore")),
                     "min": _ints(s.get("minReady")), "end": _ints(s.get("readyAtEnd"))})
    return {"from": tl.get("from"), "to": tl.get("to"), "seconds": round(span, 1), "services": services,
            "down": down, "rows": rows, "left": len(services) - len(rows),
            "lbDown": [s for s in services if s.get("lbOutages")],
            "lb": any(s.get("targetGroups") for s in services),
            "chart": {"width": label_w + plot_w + 70, "height": 20 + len(rows) * row_h + 10, "labelW": label_w,
                      "plotW": plot_w, "plotH": plot_h}}


def eks_view(eks: dict[str, Any] | None, rotation: dict[str, Any] | None,
             cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The EKS section as the engine built it (auditor.analysis.eksview), with node counts from the rotation."""
    if not eks:
        return None
    view = dict(eks)
    counts = {str(g.get("name", "")): _ints(g.get("after")) for g in (rotation or {}).get("nodeGroups") or []}
    view["nodegroups"] = [{**g, "nodes": counts.get(str(g.get("name")), g.get("nodes"))}
                          for g in eks.get("nodegroups") or []]
    return view


def _issue(i: Any) -> str:
    if isinstance(i, dict):
        code = i.get("code", "")
        msg = i.get("message", "")
        return f"{code}: {msg}" if code and msg else str(code or msg)
    return str(i)


def verdict_detail(result: AuditResult) -> str:
    """Why the verdict is what it is: the threshold, outages with --fail-on-outage, and convergence for
    compare/verify (the gate: AuditResult.gate)."""
    if result.fail_on is None:
        parts = ["fail-on never"]
    elif result.failed:
        parts = [f"findings at or above {result.fail_on.label}"]
    else:
        parts = [f"no finding at or above {result.fail_on.label}"]
    if result.fail_on_outage:
        outages = result.outages
        parts.append(f"{outages} outage{'s' if outages != 1 else ''} (--fail-on-outage)")
    if result.converged is not None:
        parts.append("converged" if result.converged else "not converged")
    elif result.mode in CONVERGENCE_MODES:
        reason = result.unknown_reason or ""
        if reason.startswith(UNRUN_PREFIX):  # the rules that could not run: the notes name them all
            reason = ""
        parts.append(f"convergence unknown: {reason}" if reason else "convergence unknown")
    return " · ".join(parts)


#: The banner's look per gate: UNKNOWN (exit 3) is neither a pass nor a failure and looks like neither.
VERDICT_STYLES = {Gate.PASS: "pass", Gate.FAIL: "fail", Gate.UNKNOWN: "unknown"}


def unknown_note(result: AuditResult) -> str:
    """Under an UNKNOWN verdict: what it means, and the rules that could not run when the run named no reason
    (verdict_detail gives the reason it named)."""
    if result.gate is not Gate.UNKNOWN:
        return ""
    note = "neither pass nor fail (exit 3): the run could not see everything it judges"
    gaps = [r.rule for r in result.runs if not r.ran and r.reason in (NotRun.KIND_MISSING, NotRun.NO_DATA)]
    if gaps and not result.unknown_reason:
        note += f"; could not run on this data: {', '.join(gaps)}"
    return note


def header(cluster: dict[str, Any], eks: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Where the state came from, as (label, value) pairs for the top of every report."""
    out = [(label, str(cluster[key])) for key, label in
           (("context", "context"), ("server", "server"), ("serverVersion", "Kubernetes")) if cluster.get(key)]
    if eks:
        text = " ".join(str(p) for p in (eks.get("name"), eks.get("version")) if p)
        if eks.get("platform"):
            text += f" ({eks['platform']})"
        if eks.get("region"):
            text += f", {eks['region']}"
        out.append(("EKS", text))
        if eks.get("target"):
            out.append(("target", str(eks["target"])))
    elif cluster.get("eksCluster"):
        out.append(("EKS", " ".join(str(cluster[k]) for k in ("eksCluster", "eksVersion", "eksPlatformVersion")
                                    if cluster.get(k))))
    return out


_TARGETS = {"ip": "IP targets", "instance": "instance targets"}


def reach_line(entry: dict[str, Any]) -> dict[str, str]:
    """One way traffic reaches a Service, as a line: what (kind and name), which hosts/paths or webhooks and
    port, and the load balancer in front with its target type. Text only: the templates escape it."""
    kind, ns, name = str(entry.get("kind", "")), str(entry.get("namespace") or ""), str(entry.get("name", ""))
    what = f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
    if kind == "Service":
        what = "LoadBalancer Service"
    routes = [str(r) for r in entry.get("routes") or []]
    more = _ints(entry.get("routeCount")) - len(routes)
    via = ", ".join(routes) + (f" and {more} more" if more > 0 else "")
    if entry.get("webhooks"):
        via = "webhook " + ", ".join(str(w) for w in entry["webhooks"])
        if entry.get("failurePolicy"):
            via += f" (failurePolicy {entry['failurePolicy']})"
    if entry.get("port"):
        via += (" → " if via else "") + f"port {entry['port']}"
    lb = [str(entry["loadBalancer"])] if entry.get("loadBalancer") else []
    if entry.get("targetType"):
        lb.append(_TARGETS.get(str(entry["targetType"]), f"{entry['targetType']} targets"))
    if entry.get("scheme"):
        lb.append(str(entry["scheme"]))
    if entry.get("targetGroupARN"):
        lb.append(str(entry["targetGroupARN"]))
    return {"kind": kind, "what": what, "via": via, "lb": " · ".join(lb)}


def build_view(result: AuditResult) -> dict[str, Any]:
    by_rule = group_by_rule(result.findings)
    # The tile says what the banner says: the result's one verdict, not a copy of it.
    rotation = rotation_view(result.rotation, result.converged)
    eks = eks_view(result.eks, result.rotation, result.cluster or {})
    namespaces = sorted({f.object.namespace for f in result.findings if f.object.namespace})
    services, others = reportgroups.groups(result)
    focus = reportgroups.focus(services, others)
    return {
        "r": result, "counts": result.counts(), "by_rule": by_rule, "rules": {r.id: r for r in result.rules},
        "rule_order": rule_order(result, by_rule), "skipped": not_run(result),
        "notices": collection_notices(result), "tool_version": __version__,
        "verdict": result.gate.label, "verdict_detail": verdict_detail(result),
        "verdict_style": VERDICT_STYLES[result.gate], "unknown_note": unknown_note(result),
        "fail_on": result.fail_on.label if result.fail_on else "never",
        "severities": [s.label for s in sorted(Severity, reverse=True)],
        "namespaces": namespaces, "cluster": result.cluster or {},
        "rotation": rotation, "eks": eks, "header": header(result.cluster or {}, eks),
        "timeline": timeline_view(result.timeline), "plan": plan_view(result.plan),
        "blast": result.blast_radius,
        "services": services, "focus": focus, "focus_left": len(services) + len(others) - len(focus),
        "focus_findings": reportgroups.FOCUS_FINDINGS, "service_limit": SERVICE_LIMIT,
        "reach": {g.anchor: [reach_line(e) for e in g.traffic] for g in services if g.traffic},
        # info-only Services are listed per rule (a count and a collapsed list), not one card each
        "serious_services": [g for g in services if g.worst > Severity.INFO],
        "info_only": [g for g in services if g.worst == Severity.INFO],
        "info_by_rule": group_by_rule([f for f in result.findings if f.severity == Severity.INFO]),
        "anchors": {(g.namespace, g.name): g.anchor for g in services if g.worst > Severity.INFO},
        "info_limit": INFO_LIMIT,
    }
