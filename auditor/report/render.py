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
from auditor.report import evidence
from auditor.report.view import build_view, group_by_rule, not_run

INTERNAL_ERROR = "internal-error"  # the engine's finding for a rule that crashed

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
    if result.timeline is not None:
        out["timeline"] = result.timeline
    if result.plan is not None:
        out["plan"] = result.plan
    if result.blast_radius is not None:
        out["blastRadius"] = result.blast_radius
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


# Everything GFM could read as markup.
_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|#!~])")
# What GFM's autolinker starts from (scheme://, www., mailto:/xmpp:): escaping the ':' or '.' breaks it.
_AUTOLINK = re.compile(r"(?i):(?=/)|(?<=mailto):|(?<=xmpp):|(?<=\bwww)\.")
# GitHub links @name and @org/team in text after rendering, escaped or not: a WORD JOINER after '@'
# (invisible) means no name follows it, so nobody is pinged.
_NO_MENTION = "@\u2060"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MARKER = "<!-- eks-upgrade-auditor-report -->"


def md_escape(value: object) -> str:
    """Escape text from the cluster for GitHub Markdown: no markup, no HTML, no table breaks, no links,
    no mentions; one line."""
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    text = _MD_ESCAPE.sub(r"\\\1", text.replace("&", "&amp;"))
    return _AUTOLINK.sub(lambda m: "\\" + m.group(), text).replace("@", _NO_MENTION)


def md_html(value: object) -> str:
    """Escape text from the cluster for an HTML line of the Markdown (<summary>...): GitHub passes such a
    line through as HTML, so backslashes do nothing there; entities do, and mentions still need breaking."""
    text = " ".join(_CONTROL.sub(" ", str(value)).split())
    return str(escape(text)).replace(":", "&#58;").replace("@", _NO_MENTION)


def md_code(lines: object, indent: str = "") -> str:
    """Commands as a fenced block, fenced longer than any run of backticks inside so nothing ends it early."""
    items = [lines] if isinstance(lines, str) else list(lines)  # type: ignore[call-overload]
    body = [_CONTROL.sub(" ", str(c)) for c in items]
    longest = max([0] + [len(m) for c in body for m in re.findall(r"`+", c)])
    fence = "`" * max(3, longest + 1)
    return "\n".join(indent + line for line in [fence + "sh", *body, fence])


def _safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None."""
    if not url or not re.match(r"(?i)^https?://[^\s]+$", url):
        return None
    return re.sub(r"[()<>\[\]`\"'\\|]", lambda m: f"%{ord(m.group()):02X}", url)


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


def inline_code(text: str) -> Markup:
    """One line of our own prose (a rule's remediation) as escaped HTML with its `code` spans."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(" ".join(str(text).split())))))


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
    env.filters["mdhtml"] = md_html
    env.filters["mdcode"] = md_code
    env.filters["doc_html"] = doc_html
    env.filters["ev_blocks"] = evidence.blocks
    env.filters["inline_code"] = inline_code
    return env


MIN_ROW = 20  # the shortest a finding's row in the Markdown can be ("| info | Kind x | m |" and its newline)
MD_ROWS = 10  # rows of one evidence table in the Markdown (the HTML shows more, report.json all)
_ICONS = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def render_md(result: AuditResult, full_report: str = DEFAULT_FULL_REPORT, report_url: str | None = None) -> str:
    """GFM for PR comments and step summaries, kept under MD_LIMIT by leaving out the mildest findings.

    The first line is a hidden marker a bot can find to update one sticky comment; `report_url` (an
    http(s) URL) links the full report at the top and in the line that says what was left out."""
    template = _env().get_template("report.md.j2")
    view = build_view(result)
    findings = result.findings
    url = _safe_url(report_url)
    link = f"[report.html]({url})" if url else ""
    if url:
        full_report = f"[the full report]({url})"

    def render(k: int, sup: int = 200, notes: int = 50) -> str:
        kept = list(findings[:k])
        return template.render(**view, kept=kept, kept_by_rule=group_by_rule(kept), left_out=len(findings) - k,
                               sup_limit=sup, notice_limit=notes, full_report=full_report, marker=MARKER,
                               report_link=link, icon=_ICONS, md_rows=MD_ROWS, not_run_rules=view["skipped"])
    # Every finding takes a table row of at least MIN_ROW characters: past MD_LIMIT / MIN_ROW findings the whole
    # list cannot fit, and rendering all of them (the costliest render) only to find that out is skipped.
    if len(findings) <= MD_LIMIT // MIN_ROW:
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
    """One testsuite for the run: a testcase per finding (classname = rule id, name = the object), failed
    at or above --fail-on and passed below it (reported in system-out); a passing testcase for each rule
    that ran clean; a skipped one, with the reason, for each rule that did not run (from result.runs)."""
    by_rule = group_by_rule(result.findings)
    skipped = not_run(result)
    ran_ids = {r.rule for r in result.runs}
    rule_ids = [r.id for r in result.rules] + sorted(set(by_rule) - {r.id for r in result.rules})
    rule_ids += sorted(ran_ids - set(rule_ids))
    # A crashed rule "ran" and produced an internal-error finding: that is its testcase (an error), not a pass.
    crashed = {str((f.evidence or {}).get("rule") or f.object.name) for f in by_rule.get(INTERNAL_ERROR, [])}
    cases: list[ET.Element] = []
    n_failed = n_skipped = n_errors = 0
    for rid in rule_ids:
        found = by_rule.get(rid, [])
        if rid in crashed and not found:
            continue
        if rid in skipped and not found:
            case = _case(rid, "not run")
            ET.SubElement(case, "skipped", {"message": _x(f"did not run: {skipped[rid]}")})
            cases.append(case)
            n_skipped += 1
            continue
        if not found:
            cases.append(_case(rid, "no findings"))
            continue
        names: dict[str, int] = {}
        for f in found:
            name = str(f.object)
            names[name] = names.get(name, 0) + 1
            if names[name] > 1:  # two findings of one rule on one object (e.g. per address family)
                name = f"{name} [{f.key or names[name]}]"
            body = _x(_failure_text(f))
            if f.rule == INTERNAL_ERROR:
                case = _case(str((f.evidence or {}).get("rule") or f.object.name), "rule crashed")
                ET.SubElement(case, "error", {"message": _x(f.message), "type": "internal-error"}).text = body
                n_errors += 1
                cases.append(case)
                continue
            case = _case(rid, name)
            if result.is_known(f):  # in the --baseline: reported, never a failure of the gate
                ET.SubElement(case, "system-out").text = _x(f"known: in the baseline, not gating\n{body}")
            elif result.fail_on is not None and f.severity >= result.fail_on:
                ET.SubElement(case, "failure", {"message": _x(f"{f.object}: {f.message}"),
                                                "type": f.severity.label}).text = body
                n_failed += 1
            else:
                below = result.fail_on.label if result.fail_on else "never"
                ET.SubElement(case, "system-out").text = _x(f"reported, below --fail-on {below}\n{body}")
            cases.append(case)
    tests = str(len(cases))
    attrs = {"name": f"{TOOL_NAME} {result.mode}", "tests": tests, "failures": str(n_failed),
             "errors": str(n_errors), "skipped": str(n_skipped), "time": "0"}
    stamp = _junit_timestamp(result.generated_at)
    if stamp:
        attrs["timestamp"] = stamp
    suite = ET.Element("testsuite", attrs)
    suite.extend(cases)
    if result.suppressed:
        ET.SubElement(suite, "system-out").text = _x("\n".join(
            f"suppressed: [{s.finding.severity.label}] {s.finding.rule} {s.finding.object}: {s.reason}"
            for s in result.suppressed))
    root = ET.Element("testsuites", {"name": TOOL_NAME, "tests": tests, "failures": str(n_failed),
                                     "errors": str(n_errors), "time": "0"})
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _case(classname: str, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": _x(classname), "name": _x(name) or "?", "time": "0"})


def _failure_text(f: Finding) -> str:
    """The failure body CI shows: what, where, the evidence, how to fix and the commands."""
    lines = [f"{f.severity.label}: {f.object}", f.message]
    facts = evidence.as_text(f.evidence)
    if facts:
        lines += ["", "Evidence:", *facts]
    if f.remediation:
        lines += ["", f"How to fix: {f.remediation}"]
    if f.fix:
        lines += ["", "Commands:", *(f"  {c}" for c in f.fix)]
    return "\n".join(lines)


RENDERERS: dict[str, Callable[[AuditResult], str]] = {
    "html": render_html, "md": render_md, "json": render_json, "junit": render_junit,
}


def render_all(result: AuditResult, formats: tuple[str, ...], report_url: str | None = None) -> dict[str, str]:
    """Every asked-for format rendered in memory, in the order asked."""
    rendered = {}
    for fmt in formats:
        if fmt == "md":
            others = [FILE_NAMES[f] for f in ("html", "json") if f in formats]
            where = f"{' and '.join(others)} in the report directory" if others else "the HTML report (--format html)"
            rendered[fmt] = render_md(result, full_report=where, report_url=report_url)
        else:
            rendered[fmt] = RENDERERS[fmt](result)
    return rendered


def write_reports(result: AuditResult, output_dir: Path, formats: tuple[str, ...],
                  report_url: str | None = None) -> list[Path]:
    """Render every format, then write them as a set: all new files or, on any failure, all old ones."""
    rendered = render_all(result, formats, report_url)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output-dir {output_dir}: cannot create it ({exc.strerror or exc})") from None
    return write_set(output_dir, {FILE_NAMES[fmt]: text for fmt, text in rendered.items()})


def write_set(directory: Path, files: dict[str, str]) -> list[Path]:
    """Write files into one directory as a set. Each goes to a temporary file beside its target first
    (so a full disk fails before anything is replaced); only when all are written are they renamed into
    place, and a rename that fails puts back the old files renamed before it."""
    temps: dict[Path, str] = {}
    backups: dict[Path, str | None] = {}
    target: Path | None = None
    try:
        for name, text in files.items():
            target = directory / name
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
            temps[target] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644 & ~_umask())
        for target in temps:  # keep the old file under a second name until every new one is in place
            backups[target] = None
            if target.exists():
                keep = tempfile.mktemp(prefix=f".{target.name}.", suffix=".old", dir=directory)
                try:
                    os.link(target, keep)  # fails rather than overwrite: no race on the name
                    backups[target] = keep
                except OSError:
                    backups[target] = ""  # no hard links here: the old file cannot be put back
        renamed: list[Path] = []
        try:
            for target, tmp in temps.items():
                os.replace(tmp, target)
                renamed.append(target)
        except OSError:
            for done in renamed:
                old = backups.get(done)
                if old:
                    os.replace(old, done)
                    backups[done] = None
                elif old is None:
                    os.unlink(done)
            raise
    except OSError as exc:
        for tmp in temps.values():
            _unlink(tmp)
        for left in backups.values():
            if left:
                _unlink(left)
        where = target or directory
        raise ConfigError(f"{where}: cannot write report ({exc.strerror or exc}); "
                          "the reports already there are unchanged") from None
    for left in backups.values():
        if left:
            _unlink(left)
    return list(temps)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_text_atomic(target: Path, text: str) -> None:
    """One file, atomically (a set of one)."""
    write_set(target.parent, {target.name: text})
