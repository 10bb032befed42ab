"""report.junit.xml: one testsuite for the run, as CI systems read JUnit (Ant's schema)."""
from __future__ import annotations

import re

from auditor import TOOL_NAME
from auditor.model import CONVERGENCE_MODES, AuditResult, Finding, Gate, Severity
from auditor.report import evidence
from auditor.report.prepared import Prepared, prepared
from auditor.report.text import visible
from auditor.report.view import group_by_rule, not_run

INTERNAL_ERROR = "internal-error"  # the engine's finding for a rule that crashed


def _x(text: object) -> str:
    """Text XML 1.0 can carry and a reader sees as it is: control, bidi and zero-width characters from the cluster
    shown (auditor.report.text); tabs and newlines kept for the failure bodies."""
    return visible(text, layout=True)


class _Case:
    """One testcase and its one child, if any (failure, error, skipped or system-out), written as ElementTree wrote
    them: each attribute and text escaped as ET escapes it, indented as ET.indent indents it. Text from the start
    (a third of the cost of building and serialising 6,000 elements), and only the text: each failure body is held
    once, as the document holds it."""

    __slots__ = ("tag", "xml")

    def __init__(self, classname: str, name: str) -> None:
        self.tag = ""  # the child's, "" for none
        self.xml = f'<testcase classname="{_attr(classname)}" name="{_attr(name)}" time="0" />'

    def add(self, tag: str, attrs: dict[str, str] | None = None, text: str = "") -> None:
        self.tag = tag
        self.xml = f"{self.xml[:-3]}>\n      {_element(tag, attrs or {}, text)}\n    </testcase>"


def _attr(text: str) -> str:
    """An attribute value escaped as ElementTree escapes it (line breaks and tabs as character references)."""
    text = _cdata(text)
    if '"' in text:
        text = text.replace('"', "&quot;")
    if "\r" in text:
        text = text.replace("\r", "&#13;")
    if "\n" in text:
        text = text.replace("\n", "&#10;")
    if "\t" in text:
        text = text.replace("\t", "&#09;")
    return text


def _cdata(text: str) -> str:
    """Element text escaped as ElementTree escapes it."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _element(tag: str, attrs: dict[str, str], text: str) -> str:
    """A childless element: closed short when it has no text, as ElementTree closes it."""
    head = f"<{tag}" + "".join(f' {k}="{_attr(v)}"' for k, v in attrs.items())
    return f"{head}>{_cdata(text)}</{tag}>" if text else head + " />"


def _junit_timestamp(generated_at: str) -> str | None:
    # Ant's schema (what most readers follow) wants a dateTime without zone: the time is UTC.
    m = re.match(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})", generated_at or "")
    return m.group(1) if m else None


def render_junit(result: AuditResult, prep: Prepared | None = None) -> str:
    """One testsuite for the run: a testcase per finding (classname = rule id, name = the object), failed
    at or above --fail-on and passed below it (reported in system-out); a passing testcase for each rule
    that ran clean; a skipped one, with the reason, for each rule that did not run (from result.runs)."""
    prep = prepared(result, prep)
    by_rule = group_by_rule(result.findings)
    skipped = not_run(result)
    # A crashed rule "ran" and produced an internal-error finding: that is its testcase (an error), not a pass.
    crashed = {str((f.evidence or {}).get("rule") or f.object.name) for f in by_rule.get(INTERNAL_ERROR, [])}
    cases: list[_Case] = []
    for rid in _rule_ids(result, set(by_rule)):
        found = by_rule.get(rid, [])
        if rid in crashed and not found:
            continue
        if rid in skipped and not found:
            case = _case(rid, "not run")
            case.add("skipped", {"message": _x(f"did not run: {skipped[rid]}")})
            cases.append(case)
        elif not found:
            cases.append(_case(rid, "no findings"))
        else:
            cases += _finding_cases(result, rid, found, prep)
    convergence = _convergence_case(result)
    return _document(result, ([convergence] if convergence is not None else []) + cases)


def _convergence_case(result: AuditResult) -> _Case | None:
    """compare, verify and replay gate on convergence too: a testcase says so, so a run that exits 1 or 3 on it
    alone never shows all green in a CI's test view. Not converged fails it when that fails the gate; unknown is an
    error (the run could not see everything it judges)."""
    if result.mode not in CONVERGENCE_MODES:
        return None
    case = _case("convergence", "cluster converged")
    left = [f for f in result.findings if f.severity >= Severity.ERROR]
    detail = "\n".join(f"{f.rule} {f.object}: {f.message}" for f in left[:50])
    if result.converged is None:
        reason = "; ".join(result.notices) or "the run could not see everything it judges"
        case.add("error", {"message": _x(f"convergence unknown: {reason}"), "type": "unknown"})
    elif result.converged is False and result.gate is Gate.FAIL:
        case.add("failure", {"message": _x(f"not converged ({len(left)} error finding(s))"), "type": "not-converged"},
                 _x(detail))
    elif result.converged is False:
        case.add("system-out", text=_x(f"not converged, not gating (--fail-on or --baseline)\n{detail}"))
    return case


def _rule_ids(result: AuditResult, with_findings: set[str]) -> list[str]:
    """Every rule of the run, in the result's order, then those only findings or runs name."""
    rule_ids = [r.id for r in result.rules] + sorted(with_findings - {r.id for r in result.rules})
    return rule_ids + sorted({r.rule for r in result.runs} - set(rule_ids))


def _finding_cases(result: AuditResult, rid: str, found: list[Finding], prep: Prepared) -> list[_Case]:
    """A testcase per finding of one rule: an error for a crash, a failure at or above --fail-on (never for a
    finding in the baseline), else a pass that says why in system-out."""
    cases = []
    names: dict[str, int] = {}
    for f in found:
        name = where = str(f.object)
        names[name] = names.get(name, 0) + 1
        if names[name] > 1:  # two findings of one rule on one object (e.g. per address family)
            name = f"{name} [{f.key or names[name]}]"
        body = _x(_failure_text(f, where, prep.blocks(f)))
        if f.rule == INTERNAL_ERROR:
            case = _case(str((f.evidence or {}).get("rule") or f.object.name), "rule crashed")
            case.add("error", {"message": _x(f.message), "type": "internal-error"}, body)
        else:
            case = _case(rid, name)
            if result.is_known(f):  # in the --baseline: reported, never a failure of the gate
                case.add("system-out", text=f"known: in the baseline, not gating\n{body}")  # body is shown
            elif result.fail_on is not None and f.severity >= result.fail_on:
                case.add("failure", {"message": _x(f"{where}: {f.message}"), "type": f.severity.label}, body)
            else:
                below = result.fail_on.label if result.fail_on else "never"
                case.add("system-out", text=f"reported, below --fail-on {below}\n{body}")
        cases.append(case)
    return cases


def _document(result: AuditResult, cases: list[_Case]) -> str:
    """The testsuites document around the cases, with their counts and the suppressed findings."""
    tests = str(len(cases))
    n_failed, n_errors, n_skipped = (str(sum(1 for c in cases if c.tag == tag))
                                     for tag in ("failure", "error", "skipped"))
    attrs = {"name": f"{TOOL_NAME} {result.mode}", "tests": tests, "failures": n_failed,
             "errors": n_errors, "skipped": n_skipped, "time": "0"}
    stamp = _junit_timestamp(result.generated_at)
    if stamp:
        attrs["timestamp"] = stamp
    children = [c.xml for c in cases]
    if result.suppressed:
        children.append(_element("system-out", {}, _x("\n".join(
            f"suppressed: [{s.finding.severity.label}] {s.finding.rule} {s.finding.object}: {s.reason}"
            for s in result.suppressed))))
    root = _element("testsuites", {"name": TOOL_NAME, "tests": tests, "failures": n_failed, "errors": n_errors,
                                   "time": "0"}, "")
    suite = _element("testsuite", attrs, "")
    if not children:
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{root[:-3]}>\n  {suite}\n</testsuites>\n'
    # ET.indent: each child on a line of its own, four spaces in; the end tag two. One join: a 12 MB document is
    # built once, not copied piece by piece.
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n{root[:-3]}>\n  {suite[:-3]}>']
    for child in children:
        parts += ("\n    ", child)
    parts.append("\n  </testsuite>\n</testsuites>\n")
    return "".join(parts)


def _case(classname: str, name: str) -> _Case:
    return _Case(_x(classname), _x(name) or "?")


def _failure_text(f: Finding, where: str, blocks: list[evidence.Block]) -> str:
    """The failure body CI shows: what, where (str(f.object)), the evidence (its blocks), how to fix and the
    commands."""
    lines = [f"{f.severity.label}: {where}", f.message]
    facts = evidence.text_lines(blocks)
    if facts:
        lines += ["", "Evidence:", *facts]
    if f.remediation:
        lines += ["", f"How to fix: {f.remediation}"]
    if f.fix:
        lines += ["", "Commands:", *(f"  {c}" for c in f.fix)]
    return "\n".join(lines)
