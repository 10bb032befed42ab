"""Renderers: json, md, html and junit from an AuditResult alone, plus the terminal summary."""
from __future__ import annotations

import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from auditor import TOOL_NAME, __version__
from auditor.errors import ConfigError
from auditor.model import AuditResult, Finding, Severity

FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json", "junit": "report.junit.xml"}
MD_LIMIT = 65_000


def to_dict(result: AuditResult) -> dict[str, Any]:
    summary: dict[str, Any] = result.counts()
    if result.converged is not None:
        summary["converged"] = result.converged
    out: dict[str, Any] = {
        "schemaVersion": 1,
        "tool": {"name": TOOL_NAME, "version": __version__},
        "mode": result.mode,
        "inputs": [i.as_dict() for i in result.inputs],
        "summary": summary,
        "findings": [f.as_dict() for f in result.findings],
        "suppressed": [s.as_dict() for s in result.suppressed],
    }
    if result.generated_at:
        out["generatedAt"] = result.generated_at
    if result.cluster:
        out["cluster"] = result.cluster
    if result.notices:
        out["notices"] = list(result.notices)
    if result.rotation is not None:
        out["rotation"] = result.rotation
    if result.eks is not None:
        out["eks"] = result.eks
    return out


def render_json(result: AuditResult) -> str:
    return json.dumps(to_dict(result), indent=2, sort_keys=False, default=str) + "\n"


_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|#!~])")


def md_escape(value: object) -> str:
    """Escape text from the cluster for GitHub Markdown: no markup, no HTML, no table breaks."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _MD_ESCAPE.sub(r"\\\1", text).replace("&", "&amp;")


def _env() -> Environment:
    env = Environment(loader=PackageLoader("auditor.reports", "."),
                      autoescape=select_autoescape(enabled_extensions=("html.j2", "html")),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md_escape
    env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True, default=str)
    return env


def _view(result: AuditResult) -> dict[str, Any]:
    """What the templates see: the result plus derived groupings; no formatting decisions."""
    counts = result.counts()
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    rules = {r.id: r for r in result.rules}
    return {
        "r": result, "counts": counts, "by_rule": by_rule, "rules": rules, "tool_version": __version__,
        "verdict": "PASS" if result.passed else "FAIL",
        "fail_on": result.fail_on.label if result.fail_on else "never",
        "severities": [s.label for s in sorted(Severity, reverse=True)],
    }


def render_md(result: AuditResult) -> str:
    text = _env().get_template("report.md.j2").render(**_view(result), limit=None)
    if len(text) <= MD_LIMIT:
        return text
    # Too long for a PR comment or step summary: keep the worst findings, say what was left out.
    lo, hi = 0, len(result.findings)
    best = ""
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _env().get_template("report.md.j2").render(**_view(result), limit=mid)
        if len(candidate) <= MD_LIMIT:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return best


def render_html(result: AuditResult) -> str:
    return _env().get_template("report.html.j2").render(**_view(result))


def render_junit(result: AuditResult) -> str:
    suite = ET.Element("testsuite", name=f"upgrade-auditor.{result.mode}")
    by_rule: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    tests = failures = 0
    rule_ids = [r.id for r in result.rules] + sorted(set(by_rule) - {r.id for r in result.rules})
    for rid in rule_ids:
        tests += 1
        case = ET.SubElement(suite, "testcase", classname=f"upgrade-auditor.{result.mode}", name=rid)
        found = by_rule.get(rid, [])
        failing = [f for f in found if result.fail_on is not None and f.severity >= result.fail_on]
        if failing:
            failures += 1
            for f in failing:
                el = ET.SubElement(case, "failure", type=f.severity.label,
                                   message=f"{f.object}: {f.message}")
                el.text = f"{f.object}\n{f.message}\nFix: {f.remediation}"
        other = [f for f in found if f not in failing]
        if other:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"[{f.severity.label}] {f.object}: {f.message}" for f in other)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    root = ET.Element("testsuites", name="upgrade-auditor", tests=str(tests), failures=str(failures), errors="0")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "html": render_html, "md": render_md, "json": render_json, "junit": render_junit,
}


def write_reports(result: AuditResult, output_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """Render every format first, then write each atomically: a failure never leaves half a report."""
    rendered = {fmt: RENDERERS[fmt](result) for fmt in formats}
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {output_dir}: cannot create it ({exc.strerror or exc})") from None
    paths = []
    for fmt, text in rendered.items():
        target = output_dir / FILE_NAMES[fmt]
        write_text_atomic(target, text)
        paths.append(target)
    return paths


def write_text_atomic(target: Path, text: str) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write report ({exc.strerror or exc})") from None
