"""Findings grouped by the Service they hurt, and the short list a reader should act on first."""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any

from auditor.model import AuditResult, Finding, Severity
from auditor.state.labels import LABEL_SERVICE_NAME

FOCUS_GROUPS = 5  # groups in "what to do first"
FOCUS_FINDINGS = 4  # findings shown per group there
#: Rules whose finding means the Service had ready endpoints and lost every one (after the rotation, or during it).
DOWN_RULES = frozenset({"service-lost-endpoints", "service-outage"})


def service_of(f: Finding) -> tuple[str, str] | None:
    """(namespace, name) of the Service a finding touches: the object itself when it is a Service (or its
    Endpoints, which share the Service's name), else the evidence's `service` or the slice's service-name
    label; None for cluster-wide findings (nodes, add-ons, insights)."""
    o = f.object
    if not o.namespace:
        return None
    if o.kind in ("Service", "Endpoints"):
        return (o.namespace, o.name)
    ev = f.evidence or {}
    name = ev.get("service")
    if isinstance(name, dict):  # {"namespace": ..., "name": ...}
        ns, name = str(name.get("namespace") or o.namespace), name.get("name")
        return (ns, str(name)) if name else None
    if isinstance(name, str) and name:
        if "/" in name:
            ns, _, svc = name.partition("/")
            return (ns or o.namespace, svc)
        return (o.namespace, name)
    labels = ev.get("labels")
    if isinstance(labels, dict) and labels.get(LABEL_SERVICE_NAME):
        return (o.namespace, str(labels[LABEL_SERVICE_NAME]))
    if isinstance(ev.get("serviceName"), str) and ev["serviceName"]:
        return (o.namespace, ev["serviceName"])
    return None


@dataclass
class Group:
    """Findings about one Service (kind 'Service') or, for findings no Service owns, one object."""

    kind: str
    namespace: str
    name: str
    anchor: str
    findings: list[Finding] = field(default_factory=list)
    ready_before: int | None = None
    ready_after: int | None = None
    converged: bool | None = None
    #: how traffic reaches the Service (report.json `traffic`): Ingress, route, load balancer, webhook entries
    traffic: list[dict[str, Any]] = field(default_factory=list)
    user_facing: bool = False

    @property
    def title(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"

    @property
    def worst(self) -> Severity:
        return max([f.severity for f in self.findings])

    @property
    def counts(self) -> dict[str, int]:
        out = {s.label: 0 for s in sorted(Severity, reverse=True)}
        for f in self.findings:
            out[f.severity.label] += 1
        return out

    def objects(self, kind: str) -> list[str]:
        """Names of the group's objects of one kind (its slices, its Endpoints), first-seen order."""
        return list(dict.fromkeys(f.object.name for f in self.findings if f.object.kind == kind))

    @property
    def down(self) -> bool:
        """It had ready endpoints and lost every one: a `service-lost-endpoints`/`service-outage` finding, or
        its counts say so."""
        if any(f.rule in DOWN_RULES for f in self.findings):
            return True
        return bool(self.ready_before) and self.ready_after == 0

    @property
    def impact(self) -> int:
        """Who feels it: a Service at zero (2) outweighs one with a stale entry, and one that users reach through
        an Ingress, route, load balancer or webhook (1) outweighs an internal one."""
        return 2 * self.down + self.user_facing

    @property
    def rank(self) -> tuple[int, int, int, int, str, str]:
        worst = self.worst
        return (-worst, -self.impact, -sum(1 for f in self.findings if f.severity == worst), -len(self.findings),
                self.namespace, self.name)


def _rotation_rows(rotation: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    rows = {}
    for s in (rotation or {}).get("services") or []:
        if isinstance(s, dict):
            rows[(str(s.get("namespace", "")), str(s.get("name", "")))] = s
    return rows


def _traffic_rows(traffic: dict[str, Any] | None) -> dict[tuple[str, str], dict[str, Any]]:
    rows = {}
    for s in (traffic or {}).get("services") or []:
        if isinstance(s, dict):
            rows[(str(s.get("namespace", "")), str(s.get("name", "")))] = s
    return rows


def _int(v: Any) -> int | None:
    if v is None:  # most findings carry no counts: no exception to raise and catch
        return None
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def groups(result: AuditResult) -> tuple[list[Group], list[Group]]:
    """(Service groups, other groups), each sorted worst first; every finding is in exactly one group."""
    services: dict[tuple[str, str], Group] = {}
    others: dict[tuple[str, str, str], Group] = {}
    rot = _rotation_rows(result.rotation)
    reach = _traffic_rows(result.traffic)
    for f in result.findings:
        svc = service_of(f)
        if svc is not None:
            g = services.get(svc)
            if g is None:
                g = services[svc] = Group("Service", svc[0], svc[1], f"svc-{len(services) + 1}")
                row = rot.get(svc)
                if row is not None:
                    g.ready_before, g.ready_after = _int(row.get("readyBefore")), _int(row.get("readyAfter"))
                    g.converged = row.get("converged") if isinstance(row.get("converged"), bool) else None
                entry = reach.get(svc)
                if entry is not None:
                    g.traffic = [e for e in entry.get("entries") or [] if isinstance(e, dict)]
                    g.user_facing = bool(entry.get("userFacing"))
            g.findings.append(f)
        else:
            key = (f.object.kind, f.object.namespace, f.object.name)
            g = others.get(key)
            if g is None:
                g = others[key] = Group(f.object.kind, f.object.namespace, f.object.name, f"obj-{len(others) + 1}")
            g.findings.append(f)
    for g in services.values():  # the compare's own counts, when the rules did not carry them
        for f in g.findings:
            ev = f.evidence or {}
            if g.ready_before is None and _int(ev.get("readyBefore")) is not None:
                g.ready_before = _int(ev.get("readyBefore"))
            if g.ready_after is None and _int(ev.get("readyAfter")) is not None:
                g.ready_after = _int(ev.get("readyAfter"))
    return (sorted(services.values(), key=lambda g: g.rank), sorted(others.values(), key=lambda g: g.rank))


def focus(service_groups: list[Group], other_groups: list[Group], limit: int = FOCUS_GROUPS) -> list[Group]:
    """What to do first: the worst groups, Services and others together; info-only groups only when
    nothing worse exists. Each list comes sorted by rank, as groups() returns them: merged, not sorted again, and
    only until the first `limit` serious groups (ranking each of 5,000 groups again was a tenth of the view)."""
    serious: list[Group] = []
    first: list[Group] = []
    for g in heapq.merge(service_groups, other_groups, key=lambda g: g.rank):  # ties: Services first, as sorted()
        if g.worst > Severity.INFO:
            serious.append(g)
            if len(serious) == limit:
                break
        if len(first) < limit:
            first.append(g)
    return serious or first
