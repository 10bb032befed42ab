"""The fleet report: one entry per cluster (worst first), the rule x cluster matrix, and fleet.json / .md / .html."""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from markupsafe import Markup

from auditor import TOOL_NAME, __version__
from auditor.model import Severity
from auditor.report.files import write_set
from auditor.report.templates import env
from auditor.report.text import one_line

#: worst first: a cluster nobody could read hides everything, an incomplete one hides part, then failing gates
VERDICTS = ("unreachable", "incomplete", "fail", "pass")
FLEET_FILES = {"json": "fleet.json", "html": "fleet.html", "md": "fleet.md"}


def shown(value: object) -> str:
    """Text from a cluster or a report with every control, bidi and zero-width character written out (the one
    sanitiser, auditor.report.text), on one line."""
    return one_line(value)


@dataclass(frozen=True)
class ClusterEntry:
    """One cluster of the fleet: its verdict, the exit code of its audit, versions, counts and where its report is."""

    name: str
    verdict: str  # one of VERDICTS
    exit: int
    version: str | None = None
    target: str | None = None
    summary: dict[str, int] = field(default_factory=dict)
    report: str | None = None  # a path relative to the fleet report's folder, or an https URL
    error: str | None = None  # one line
    rules: dict[str, int] = field(default_factory=dict)  # rule id -> findings
    severities: dict[str, str] = field(default_factory=dict)  # rule id -> the worst severity among them

    def sort_key(self) -> tuple[int, int, int, int, str]:
        s = self.summary
        return (VERDICTS.index(self.verdict), -s.get("error", 0), -s.get("warning", 0), -s.get("info", 0), self.name)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "verdict": self.verdict, "exit": self.exit, "version": self.version,
                "target": self.target, "summary": dict(self.summary), "report": self.report, "error": self.error}


@dataclass(frozen=True)
class Fleet:
    clusters: tuple[ClusterEntry, ...]  # worst first
    generated_at: str = ""

    def summary(self) -> dict[str, int]:
        out = {"clusters": len(self.clusters)} | {v: 0 for v in VERDICTS}
        for c in self.clusters:
            out[c.verdict] += 1
        return out

    def ready(self) -> list[str]:
        """The clusters ready for the next wave: those that pass."""
        return sorted(c.name for c in self.clusters if c.verdict == "pass")

    def rules(self) -> dict[str, dict[str, int]]:
        """rule id -> cluster -> findings (clusters without a finding of the rule are left out)."""
        out: dict[str, dict[str, int]] = {}
        for c in self.clusters:
            for rule, count in c.rules.items():
                if count:
                    out.setdefault(rule, {})[c.name] = count
        return dict(sorted(out.items(), key=lambda kv: (-_worst(self, kv[0]), -sum(kv[1].values()), kv[0])))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"schemaVersion": 1, "tool": {"name": TOOL_NAME, "version": __version__}}
        if self.generated_at:
            out["generatedAt"] = self.generated_at
        out |= {"summary": self.summary(), "ready": self.ready(), "clusters": [c.as_dict() for c in self.clusters],
                "rules": self.rules()}
        return out

    @property
    def exit_audit(self) -> int:
        """`fleet audit`: 3 when a cluster could not be collected (or its upload failed), else 1 when one fails,
        else 0."""
        if any(c.verdict in ("unreachable", "incomplete") or c.exit == 3 for c in self.clusters):
            return 3
        return 1 if any(c.verdict != "pass" for c in self.clusters) else 0

    @property
    def exit_report(self) -> int:
        """`fleet report`: 1 when any report fails (an incomplete one included), else 0."""
        return 1 if any(c.verdict != "pass" for c in self.clusters) else 0


def _worst(fleet: Fleet, rule: str) -> int:
    levels = [Severity.parse(c.severities[rule]) for c in fleet.clusters if rule in c.severities]
    return int(max(levels)) if levels else 0


def make_fleet(entries: list[ClusterEntry], generated_at: str = "") -> Fleet:
    return Fleet(tuple(sorted(entries, key=ClusterEntry.sort_key)), generated_at)


def entry_from_report(name: str, doc: dict[str, Any], report: str | None, fail_on: Severity | None) -> ClusterEntry:
    """A cluster's entry from its report.json: incomplete when an input was, else fail when a finding not known to
    its baseline is at or above `fail_on` (verify: when it did not converge), else pass."""
    summary = {str(k): v for k, v in (doc.get("summary") or {}).items() if type(v) is int}  # not converged's bool
    findings = [f for f in doc.get("findings") or [] if isinstance(f, dict)]
    rules: dict[str, int] = {}
    severities: dict[str, str] = {}
    for f in findings:
        rule, sev = str(f.get("rule", "")), _severity(f.get("severity"))
        rules[rule] = rules.get(rule, 0) + 1
        if sev is not None and (rule not in severities or sev > Severity.parse(severities[rule])):
            severities[rule] = sev.label
    cluster = _obj(doc.get("cluster"))
    plane = _obj(cluster.get("controlPlane"))
    version = plane.get("version") or cluster.get("eksVersion") or cluster.get("serverVersion")
    inputs = [i for i in doc.get("inputs") or [] if isinstance(i, dict)]
    if any(i.get("complete") is False for i in inputs):
        verdict, code = "incomplete", 3
    elif _fails(doc, findings, fail_on):
        verdict, code = "fail", 1
    else:
        verdict, code = "pass", 0
    return ClusterEntry(name=name, verdict=verdict, exit=code, version=str(version) if version else None,
                        target=str(cluster["targetVersion"]) if cluster.get("targetVersion") else None,
                        summary=summary, report=report, rules=rules, severities=severities)


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _severity(value: object) -> Severity | None:
    try:
        return Severity.parse(str(value))
    except ValueError:  # a severity this version does not know: the finding counts, but never as the worst
        return None


def _fails(doc: dict[str, Any], findings: list[dict[str, Any]], fail_on: Severity | None) -> bool:
    if doc.get("mode") == "verify":
        return (doc.get("summary") or {}).get("converged") is not True
    if fail_on is None:
        return False
    for f in findings:
        sev = _severity(f.get("severity"))
        if sev is not None and sev >= fail_on and f.get("baseline") != "known":
            return True
    return False


def link(report: str | None) -> str | None:
    """A report's place as a link target: https URLs as they are, paths relative and percent-encoded, so a folder
    named `javascript:x` is a path, never a scheme."""
    if not report:
        return None
    if re.match(r"(?i)^https://[^\s]+$", report):
        return re.sub(r"[()<>\[\]`\"'\\| ]", lambda m: f"%{ord(m.group()):02X}", report)
    return "./" + quote(report.lstrip("/"), safe="/._-~")


def _versions(c: ClusterEntry) -> str:
    return f"{c.version or '?'} → {c.target}" if c.target else (c.version or "?")


def view(fleet: Fleet) -> dict[str, Any]:
    """What both page templates read: rows worst first, the ready line, the matrix."""
    rules = fleet.rules()
    rows = [{"c": c, "name": shown(c.name), "versions": shown(_versions(c)), "link": link(c.report),
             "error": shown(c.error) if c.error else "", "counts": {k: c.summary.get(k, 0) for k in
                                                                     ("error", "warning", "info", "suppressed")}}
            for c in fleet.clusters]
    matrix = [{"rule": shown(rule), "severity": Severity(_worst(fleet, rule) or Severity.INFO).label,
               "cells": [by_cluster.get(c.name, 0) for c in fleet.clusters]} for rule, by_cluster in rules.items()]
    return {"rows": rows, "summary": fleet.summary(), "ready": [shown(n) for n in fleet.ready()],
            "matrix": matrix, "generated_at": fleet.generated_at, "version": __version__}


def render_fleet_json(fleet: Fleet) -> str:
    return orjson.dumps(fleet.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"


_SCRIPT = 'document.documentElement.classList.add("js");'


def render_fleet_html(fleet: Fleet) -> str:
    # The same policy as report.html: nothing loads from the network and only this one script (by hash) runs.
    digest = "'sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode() + "'"
    return env().get_template("fleet.html.j2").render(**view(fleet), script=Markup(_SCRIPT), script_hash=digest)


def render_fleet_md(fleet: Fleet) -> str:
    return env().get_template("fleet.md.j2").render(**view(fleet))


RENDERERS = {"json": render_fleet_json, "html": render_fleet_html, "md": render_fleet_md}


def write_fleet(fleet: Fleet, directory: Path) -> list[Path]:
    """fleet.json, fleet.html and fleet.md written as a set into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    return write_set(directory, {FILE: RENDERERS[fmt](fleet) for fmt, FILE in FLEET_FILES.items()})
