"""Renderers: json, md, html and junit from an AuditResult alone, and atomic writing of the files."""
from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import orjson
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from auditor import TOOL_NAME, __version__
from auditor.errors import ConfigError
from auditor.model import AuditResult, Finding
from auditor.reportview import build_view, group_by_rule, skipped_rules

FILE_NAMES = {"html": "report.html", "md": "report.md", "json": "report.json", "junit": "report.junit.xml"}
# GitHub rejects comments over 65,536 characters and cuts step summaries at 1 MiB: stay below both.
MD_LIMIT = 65_000
DEFAULT_FULL_REPORT = "report.html and report.json in the report directory"


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
        "findings": [_finding(result, f) for f in result.findings],
        "suppressed": [s.as_dict() for s in result.suppressed],
    }
    if result.generated_at:
        out["generatedAt"] = result.generated_at
    if result.cluster:
        out["cluster"] = result.cluster
    if result.notices:
        out["notices"] = list(result.notices)
    if result.runs:
        out["ruleRuns"] = [r.as_dict() for r in result.runs]
    if result.baseline is not None:
        out["baseline"] = {"path": result.baseline.path, "fixed": list(result.baseline.fixed)}
    if result.rotation is not None:
        out["rotation"] = result.rotation
    if result.eks is not None:
        out["eks"] = result.eks
    return out


def _finding(result: AuditResult, f: Finding) -> dict[str, Any]:
    d = f.as_dict()
    if result.baseline is not None:
        d["baseline"] = "known" if result.is_known(f) else "new"
    return d


def render_json(result: AuditResult) -> str:
    # orjson: a compare of two 100k-Pod states carries 10k Service rows; stdlib json took ~2 s on them.
    data = orjson.dumps(to_dict(result), default=str, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    return data.decode() + "\n"


# Everything GFM could read as markup, plus '@' so that a value never pings a user or team.
_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|#!~@])")


def md_escape(value: object) -> str:
    """Escape text from the cluster for GitHub Markdown: no markup, no HTML, no table breaks, no mentions."""
    text = " ".join(str(value).split())
    return _MD_ESCAPE.sub(r"\\\1", text.replace("&", "&amp;"))


_CODE = re.compile(r"`([^`]+)`")
_FENCE = re.compile(r"```[\w-]*\n(.*?)```", re.S)


def doc_html(text: str) -> Markup:
    """Rule documentation (ours, not the cluster's) as HTML: paragraphs, `code` and fenced blocks, escaped."""
    out = []
    pos = 0
    for m in _FENCE.finditer(text):
        out.append(_paragraphs(text[pos:m.start()]))
        out.append(f"<pre>{escape(m.group(1).rstrip())}</pre>")
        pos = m.end()
    out.append(_paragraphs(text[pos:]))
    return Markup("".join(out))


def _paragraphs(text: str) -> str:
    out = []
    for p in re.split(r"\n\s*\n", text):
        if p.strip():
            body = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(" ".join(p.split()))))
            out.append(f"<p>{body}</p>")
    return "".join(out)


@lru_cache(maxsize=1)
def _env() -> Environment:
    # select_autoescape matches the end of the template name: "html.j2" turns escaping on for
    # report.html.j2 and every _*.html.j2 part; md and js templates are escaped by hand or carry no data.
    env = Environment(loader=PackageLoader("auditor.reports", "."),
                      autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["md"] = md_escape
    env.filters["doc_html"] = doc_html
    return env


def render_md(result: AuditResult, full_report: str = DEFAULT_FULL_REPORT) -> str:
    """GFM for PR comments and step summaries, kept under MD_LIMIT by leaving out the mildest findings."""
    template = _env().get_template("report.md.j2")
    view = build_view(result)
    findings = result.findings

    def render(k: int, sup: int = 200, notes: int = 50) -> str:
        kept = list(findings[:k])
        return template.render(**view, kept=kept, kept_by_rule=group_by_rule(kept), left_out=len(findings) - k,
                               sup_limit=sup, notice_limit=notes, full_report=full_report)

    text = render(len(findings))
    if len(text) <= MD_LIMIT:
        return text
    # The frame alone (header, notices, rotation, suppressed) may be too long: shrink its lists first.
    for sup, notes in ((200, 50), (20, 10), (0, 3)):
        frame = render(0, sup, notes)
        if len(frame) <= MD_LIMIT:
            break
    else:
        return _hard_cut(frame, full_report)
    # Length grows with the number of findings kept; only a few hundred fit, so gallop up from zero
    # (each probe renders at most twice the answer) and then bisect: ~20 small renders even for 10,000.
    good, good_text, bad, step = 0, frame, len(findings), 32
    while good + step < bad:
        probe = render(good + step, sup, notes)
        if len(probe) > MD_LIMIT:
            bad = good + step
            break
        good, good_text, step = good + step, probe, step * 2
    while bad - good > 1:
        mid = (good + bad) // 2
        probe = render(mid, sup, notes)
        if len(probe) <= MD_LIMIT:
            good, good_text = mid, probe
        else:
            bad = mid
    return good_text


def _hard_cut(text: str, full_report: str) -> str:
    note = f"\n\n**This summary was cut to stay under GitHub's size limit; the full report is {full_report}.**\n"
    cut = text.rfind("\n", 0, MD_LIMIT - len(note))
    return text[: max(cut, 0)] + note


# Runs first: with JS on, the CSS shows only the first page of a long table while the page is parsed.
_HEAD_SCRIPT = 'document.documentElement.classList.add("js");'


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def render_html(result: AuditResult) -> str:
    env = _env()
    script = env.get_template("_report.js.j2").render()
    # The CSP allows exactly these two scripts by hash: an injected inline handler or <script> would not run.
    hashes = " ".join(_csp_hash(s) for s in (_HEAD_SCRIPT, script))
    return env.get_template("report.html.j2").render(**build_view(result), script=Markup(script),
                                                     head_script=Markup(_HEAD_SCRIPT), script_hashes=hashes)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _x(text: object) -> str:
    """Text XML 1.0 can carry: control characters from the cluster would make the file unreadable."""
    return _XML_BAD.sub("?", str(text))


def _junit_timestamp(generated_at: str) -> str | None:
    # Ant's schema (what most readers follow) wants a dateTime without zone: the time is UTC.
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", generated_at or "")
    return m.group(1) if m else None


def render_junit(result: AuditResult) -> str:
    """One testsuite for the mode, one testcase per rule: passed, skipped, or one failure per finding."""
    by_rule = group_by_rule(result.findings)
    skipped = skipped_rules(result.notices)
    suppressed: dict[str, list[str]] = {}
    for s in result.suppressed:
        suppressed.setdefault(s.finding.rule, []).append(f"suppressed: {s.finding.object}: {s.reason}")
    classname = f"upgrade-auditor.{result.mode}"
    rule_ids = [r.id for r in result.rules] + sorted(set(by_rule) - {r.id for r in result.rules})
    cases, n_failed, n_skipped = [], 0, 0
    for rid in rule_ids:
        case = ET.Element("testcase", {"classname": classname, "name": rid, "time": "0"})
        found = by_rule.get(rid, [])
        failing = [f for f in found if result.fail_on is not None and f.severity >= result.fail_on
                   and not result.is_known(f)]  # known (baseline) findings never fail the gate
        for f in failing:
            el = ET.SubElement(case, "failure", {"message": _x(f"{f.object}: {f.message}"),
                                                 "type": f.severity.label})
            el.text = _x(_failure_text(f))
        if failing:
            n_failed += 1
        elif rid in skipped and not found:
            ET.SubElement(case, "skipped", {"message": _x(f"did not run: {skipped[rid]}")})
            n_skipped += 1
        out_lines = [f"[{f.severity.label}{', known' if result.is_known(f) else ''}] {f.object}: {f.message}"
                     for f in found if f not in failing]
        out_lines += suppressed.get(rid, [])
        if out_lines:
            ET.SubElement(case, "system-out").text = _x("\n".join(out_lines))
        cases.append(case)
    tests = str(len(cases))
    attrs = {"name": f"{TOOL_NAME} {result.mode}", "tests": tests, "failures": str(n_failed), "errors": "0",
             "skipped": str(n_skipped), "time": "0"}
    stamp = _junit_timestamp(result.generated_at)
    if stamp:
        attrs["timestamp"] = stamp
    suite = ET.Element("testsuite", attrs)
    suite.extend(cases)
    root = ET.Element("testsuites", {"name": TOOL_NAME, "tests": tests, "failures": str(n_failed),
                                     "errors": "0", "time": "0"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _failure_text(f: Finding) -> str:
    lines = [f"{f.severity.label}: {f.object}", f.message]
    if f.remediation:
        lines.append(f"How to fix: {f.remediation}")
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "html": render_html, "md": render_md, "json": render_json, "junit": render_junit,
}


def write_reports(result: AuditResult, output_dir: Path, formats: tuple[str, ...]) -> list[Path]:
    """Render every format first, then write each atomically: a failure never leaves half a report."""
    rendered = {}
    for fmt in formats:
        if fmt == "md":
            others = [FILE_NAMES[f] for f in ("html", "json") if f in formats]
            where = f"{' and '.join(others)} in the report directory" if others else "the HTML report (--format html)"
            rendered[fmt] = render_md(result, full_report=where)
        else:
            rendered[fmt] = RENDERERS[fmt](result)
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
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        raise ConfigError(f"{target}: cannot write report ({exc.strerror or exc})") from None
