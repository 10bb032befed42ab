"""report.md: GitHub-flavoured Markdown for PR comments and step summaries, kept under GitHub's size limits."""
from __future__ import annotations

import re
from collections.abc import Callable

from auditor.model import AuditResult, Finding
from auditor.report import evidence
from auditor.report.prepared import Prepared, prepared
from auditor.report.templates import env, forget_md_cells
from auditor.report.view import group_by_rule

# GitHub rejects comments over 65,536 characters and cuts step summaries at 1 MiB: stay below both.
MD_LIMIT = 65_000
DEFAULT_FULL_REPORT = "report.html and report.json in the report directory"
MARKER = "<!-- eks-upgrade-auditor-report -->"
MIN_ROW = 20  # the shortest a finding's row in the Markdown can be ("| info | Kind x | m |" and its newline)
MD_ROWS = 10  # rows of one evidence table in the Markdown (the HTML shows more, report.json all)
MD_INFO_ROWS = 20  # info findings listed per rule in the Markdown (no evidence block each); the rest are counted
_ICONS = {"error": "🔴", "warning": "🟠", "info": "🔵"}
# per banner style (auditor.report.view.VERDICT_STYLES): an unknown verdict is neither a pass nor a failure
_VERDICT_MARKS = {"pass": "✅", "fail": "❌", "unknown": "⚠️"}


def _safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a Markdown link target, or None."""
    if not url or not re.match(r"(?i)^https?://[^\s]+$", url):
        return None
    return re.sub(r"[()<>\[\]`\"'\\|]", lambda m: f"%{ord(m.group()):02X}", url)


def render_md(result: AuditResult, full_report: str = DEFAULT_FULL_REPORT, report_url: str | None = None,
              prep: Prepared | None = None) -> str:
    """GFM for PR comments and step summaries, kept under MD_LIMIT by leaving out the mildest findings.

    The first line is a hidden marker a bot can find to update one sticky comment; `report_url` (an
    http(s) URL) links the full report at the top and in the line that says what was left out."""
    try:
        return _fitted(result, full_report, report_url, prep)
    finally:
        forget_md_cells()  # the cells escaped once served this call's renders; a long-lived process keeps none


def _fitted(result: AuditResult, full_report: str, report_url: str | None, prep: Prepared | None) -> str:
    template = env().get_template("report.md.j2")
    view = prepared(result, prep).view
    findings = result.findings
    url = _safe_url(report_url)
    link = f"[report.html]({url})" if url else ""
    if url:
        full_report = f"[the full report]({url})"

    focus = [f for g in view["focus"] for f in g.findings[:view["focus_findings"]]]
    md_blocks = _blocks_once()

    def render(k: int, sup: int = 200, notes: int = 50) -> str:
        kept = list(findings[:k])
        by_rule = group_by_rule(kept)
        fix_focus, fix_here = _first_fixes(focus, [f for items in by_rule.values() for f in items])
        return template.render(**view, kept=kept, kept_by_rule=by_rule, left_out=len(findings) - k,
                               sup_limit=sup, notice_limit=notes, full_report=full_report, marker=MARKER,
                               report_link=link, icon=_ICONS, verdict_marks=_VERDICT_MARKS, md_blocks=md_blocks,
                               not_run_rules=view["skipped"],
                               md_info_rows=MD_INFO_ROWS, id=id, focus_ids={id(f) for f in focus},
                               fix_here=fix_here, fix_focus=fix_focus)
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


def _blocks_once() -> Callable[[Finding], list[evidence.Block]]:
    """A finding's evidence blocks, MD_ROWS rows a table, made once for every render of one render_md call."""
    made: dict[int, list[evidence.Block]] = {}  # by id: every finding is alive in the result meanwhile

    def md_blocks(f: Finding) -> list[evidence.Block]:
        got = made.get(id(f))
        if got is None:
            got = made[id(f)] = evidence.blocks(f.evidence, MD_ROWS)
        return got
    return md_blocks


def _first_fixes(*sections: list[Finding]) -> list[set[int]]:
    """Per section, the findings (by id) whose fix block the Markdown prints there: the first with each set of
    commands, in the order the sections show them; the others say the commands are above."""
    seen: set[tuple[str, ...]] = set()
    out: list[set[int]] = []
    for section in sections:
        here: set[int] = set()
        for f in section:
            if f.fix and f.fix not in seen:
                seen.add(f.fix)
                here.add(id(f))
        out.append(here)
    return out


def _hard_cut(text: str, full_report: str) -> str:
    note = f"\n\n**This summary was cut to stay under GitHub's size limit; the full report is {full_report}.**\n"
    cut = text.rfind("\n", 0, MD_LIMIT - len(note))
    return text[: max(cut, 0)] + note
