"""The HTML report without a browser: the findings travel as a JSON island the table script reads (safe against
names that try to end the element, every finding in it, text shown as the rows show it), the first page is also
rendered for readers without JavaScript, and the verdict banner has a look of its own for UNKNOWN (HTML and
Markdown)."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import report_fixture as F

from auditor.model import BaselineInfo, Finding, Gate, ObjectRef, RuleRun, Severity
from auditor.report import evidence, html_report, md_report
from auditor.report.text import visible

ISLAND = '<script type="application/json" id="findings-data">'
# What could end the island or open a comment in it, in every place a cluster's text reaches.
BREAKOUTS = ("</script><script>alert(1)</script>", "<!--<script>alert(2)//", "</SCRIPT >", "--!>", "-->",
             "<![CDATA[", "a & b &amp; c", "line\u2028sep\u2029end")


class _Scripts(HTMLParser):
    """Every <script> element as the HTML tokenizer reads it: its attributes and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._open = dict(attrs)
            self.scripts.append((self._open, ""))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._open = None


def _scripts(html: str) -> list[tuple[dict[str, str | None], str]]:
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return parser.scripts


def _data(html: str) -> dict[str, Any]:
    islands = [text for attrs, text in _scripts(html) if attrs.get("id") == "findings-data"]
    assert len(islands) == 1
    data: dict[str, Any] = json.loads(islands[0])
    return data


def _hostile() -> tuple[Finding, ...]:
    out = []
    for i, bad in enumerate(BREAKOUTS):
        out.append(Finding("stale-endpointslice", Severity.ERROR, ObjectRef("EndpointSlice", "payments", f"x{i}{bad}"),
                           f"message {bad}", remediation=f"Delete `{bad}`.",
                           evidence={"labels": {"app": bad}, "pods": [bad, "ok"],
                                     "endpoints": [{"address": "10.0.0.1", "pod": bad}]},
                           fix=(f"kubectl -n payments get endpointslice '{bad}'",)))
    return tuple(out)


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The island's rows back as plain values (auditor.report.html_report.findings_data's layout)."""
    s = data["s"]

    def block(b: list[Any]) -> tuple[Any, ...]:
        if b[0] == 0:
            return ("facts", tuple((s[k], s[v]) for k, v in b[1]))
        if b[0] == 1:
            return ("list", s[b[1]], tuple(s[i] for i in b[2]), b[3])
        return ("table", s[b[1]], tuple(s[c] for c in data["cols"][b[2]]),
                tuple(tuple(s[c] for c in row) for row in b[3]), b[4], b[5])

    return [{"severity": data["sev"][r[0]], "rule": data["rules"][r[1]], "kind": data["kinds"][r[2]],
             "namespace": data["ns"][r[3]], "name": r[4], "message": r[5], "known": bool(r[6]),
             "remediation": data["rem"][r[7]] if r[7] >= 0 else None,
             "evidence": None if r[8] is None else [block(b) for b in r[8]], "fix": r[9]} for r in data["f"]]


def _expected(f: Finding, known: bool = False) -> dict[str, Any]:
    """A finding as the template's row shows it: every text through the last pass (unseen characters shown)."""
    def v(x: object) -> str:
        return visible(x, layout=True)

    def block(b: evidence.Block) -> tuple[Any, ...]:
        if b.kind == "facts":
            return ("facts", tuple((v(k), v(x)) for k, x in b.facts))
        if b.kind == "list":
            return ("list", v(b.title), tuple(v(i) for i in b.items), b.more)
        return ("table", v(b.title), tuple(v(c) for c in b.columns), tuple(tuple(v(c) for c in r) for r in b.rows),
                b.total, b.more)

    return {"severity": f.severity.label, "rule": f.rule, "kind": v(f.object.kind), "namespace": v(f.object.namespace),
            "name": v(f.object.name), "message": v(f.message), "known": known,
            "remediation": v(" ".join(f.remediation.split())) if f.remediation else None,
            "evidence": [block(b) for b in evidence.blocks(f.evidence)] if f.evidence else None,
            "fix": v("\n".join(f.fix))}


def test_island_cannot_be_ended_or_commented_by_cluster_text() -> None:
    result = F.result(findings=_hostile())
    html = html_report.render_html(result)
    start = html.index(ISLAND) + len(ISLAND)
    island = html[start:html.index("</script>", start)]
    assert not re.search(r"[<>&]", island)  # nothing the tokenizer could read as a tag, comment or reference
    scripts = _scripts(html)
    assert [a.get("type") for a, _ in scripts] == ["application/json", None]  # no third element broke out
    assert json.loads(scripts[0][1]) == json.loads(island)
    rows = _rows(_data(html))
    assert rows == [_expected(f) for f in result.findings]
    by_name = {r["name"]: r for r in rows}
    for i, bad in enumerate(BREAKOUTS):
        row = by_name[visible(f"x{i}{bad}")]
        assert row["message"] == visible(f"message {bad}")  # the same text back, not an escaped copy
        assert row["evidence"][0] == ("facts", (("labels app", visible(bad)),))


def test_every_finding_is_in_the_data_in_order_with_what_its_row_shows() -> None:
    result = F.result()
    known = result.findings[1]
    result = replace(result, baseline=BaselineInfo(path="baseline.json", known=frozenset({known.fingerprint})))
    rows = _rows(_data(html_report.render_html(result)))
    assert rows == [_expected(f, known=f is known) for f in result.findings]
    assert [r["known"] for r in rows].count(True) == 1
    capped = next(r for r in rows if r["name"] == "cart-x8k2p")["evidence"]
    assert capped[1][0] == "table" and len(capped[1][3]) == evidence.ROW_LIMIT and capped[1][4:] == (50, 30)


def test_unseen_characters_are_written_out_in_the_data_as_in_the_rows() -> None:
    odd = (Finding("stale-endpointslice", Severity.ERROR, ObjectRef("EndpointSlice", "shop", "evil\u202egnp.exe"),
                   "bell\x07 and a tab\tstays", evidence={"path": "C:\\bin\\x"}),
           Finding("stale-endpointslice", Severity.ERROR, ObjectRef("EndpointSlice", "shop", "C:\\bin\\rest"),
                   "a backslash and b is no control", evidence={"zw": "a\u200bb"}))
    html = html_report.render_html(F.result(findings=odd))
    rows = _rows(_data(html))
    assert [r["name"] for r in rows] == ["evil\\u{202E}gnp.exe", "C:\\bin\\rest"]
    assert rows[0]["message"] == "bell\\u{0007} and a tab\tstays"
    assert rows[1]["evidence"] == [("facts", (("zw", "a\\u{200B}b"),))]
    assert "evil\\u{202E}gnp.exe" in html[html.index("<tbody>"):html.index(ISLAND)]  # the server row says the same
    assert "\u202e" not in html and "\u200b" not in html and "\x07" not in html


def _table_rows(html: str) -> list[str]:
    start = html.index('<table id="findings-table">')
    body = html[start:html.index("</tbody>\n</table>", start)]
    return re.findall(r"<tr data-sev=", body)


def test_the_server_renders_the_first_page_and_the_data_holds_every_finding() -> None:
    result = F.big_result(250)
    html = html_report.render_html(result)
    assert len(_table_rows(html)) == html_report.FIRST_ROWS == 100
    assert "The first 100 of 250 findings, worst first" in html
    assert html.index("<noscript>") < html.index(ISLAND)
    rows = _rows(_data(html))
    assert [(r["name"], r["message"]) for r in rows] == [(visible(f.object.name), f.message) for f in result.findings]
    # a page that fits needs no note
    small = html_report.render_html(F.result())
    assert len(_table_rows(small)) == len(F.FINDINGS) and "<noscript>" not in small


def test_no_findings_no_data_and_the_script_still_runs() -> None:
    html = html_report.render_html(F.empty_result())
    assert ISLAND not in html and "No findings." in html
    assert [a.get("type") for a, _ in _scripts(html)] == [None]


# --- the verdict banner: pass, fail and unknown each look their own ---------------------------------

def _unknown(**changes: object) -> Any:
    calm = tuple(f for f in F.FINDINGS if f.severity < Severity.ERROR)
    return F.result(mode="verify", converged=None, findings=calm, **changes)


def _banner(html: str) -> tuple[str, str]:
    m = re.search(r'<div class="banner ([a-z]+)" role="status" id="verdict">(.*?)</div>', html, re.S)
    assert m is not None
    return m.group(1), m.group(2).strip()


def test_unknown_verdict_has_its_own_banner_that_says_why() -> None:
    r = _unknown(unknown_because="the Pod watch stopped: a line longer than 16 MiB")
    assert r.gate is Gate.UNKNOWN
    style, text = _banner(html_report.render_html(r))
    assert style == "unknown"
    assert text.startswith("UNKNOWN: no finding at or above error · convergence unknown: the Pod watch stopped")
    assert "neither pass nor fail (exit 3)" in text and 'href="#notices"' in text
    md = md_report.render_md(r).splitlines()[1]
    assert md.startswith("## ⚠️ eks-upgrade-auditor verify: **UNKNOWN** (") and "the Pod watch stopped" in md
    assert "✅" not in md and "❌" not in md


def test_unknown_without_a_named_reason_lists_the_rules_that_could_not_run() -> None:
    runs = (RuleRun("stale-endpointslice", False, None), RuleRun("stale-endpoints", False, None))
    r = _unknown(notices=(), runs=tuple(replace(x, reason=F.RUNS[4].reason, detail="no Endpoints") for x in runs))
    style, text = _banner(html_report.render_html(r))
    assert style == "unknown"
    assert "could not run on this data: stale-endpointslice, stale-endpoints" in text


def test_pass_and_fail_banners_keep_their_looks() -> None:
    calm = tuple(f for f in F.FINDINGS if f.severity < Severity.ERROR)
    passed = F.result(mode="verify", converged=True, findings=calm)
    failed = F.result()
    assert (passed.gate, failed.gate) == (Gate.PASS, Gate.FAIL)
    for r, style, mark in ((passed, "pass", "✅"), (failed, "fail", "❌")):
        got, text = _banner(html_report.render_html(r))
        assert got == style and "neither pass nor fail" not in text
        assert md_report.render_md(r).splitlines()[1].startswith(f"## {mark} ")
    css = html_report.render_html(failed)
    for style in ("pass", "fail", "unknown"):
        assert f".banner.{style} {{" in css
