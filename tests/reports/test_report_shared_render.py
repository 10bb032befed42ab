"""The reports' shortcuts write what the longer way wrote: the sanitiser's printable check, the formats sharing one
`Prepared`, the HTML evidence built in Python (against the Jinja macro it replaced), JUnit written as text (against
ElementTree), Markdown cells escaped once, and "what to do first" merged instead of sorted."""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import demo_results as D
import pytest
import report_fixture as F
from jinja2 import DictLoader, Environment, StrictUndefined

from auditor.model import AuditResult, BaselineInfo, Finding, ObjectRef, Severity
from auditor.report import evidence, groups, html_report, json_report, junit_report, md_report, render, templates
from auditor.report.text import _ANY, visible

# Text a cluster could hold that each shortcut must treat as the long way did: markup, quotes, line breaks, unseen
# and bidi characters, mentions.
ODD = ["plain", "a\u202eb", "ca\u200brt", "nel\x85x", "t\x1b]0;pwned\x07x", "a\rb", "tab\tnl\nend", "@octo-org/team",
       "<b>&amp; \"q\" 'a'</b>", "</script><!--", "line\u2028sep\u2029", "soft\xadhy", "名前 → …", ""]


def _odd_result() -> AuditResult:
    findings = []
    for i, odd in enumerate(ODD):
        findings.append(Finding(
            "stale-endpointslice", (Severity.ERROR, Severity.WARNING, Severity.INFO)[i % 3],
            ObjectRef("EndpointSlice", f"ns-{i % 4}", f"x{i}{odd}"), f"message {odd}", remediation=f"Fix `{odd}`.",
            evidence={"labels": {"app": odd}, "pods": [odd, "ok", i], "count": i, "ready": i % 2 == 0,
                      "endpoints": [{"address": f"10.0.0.{k}", "pod": odd, "ready": True} for k in range(i + 1)]},
            fix=(f"kubectl -n ns get endpointslice '{odd}'",)))
    return F.result(findings=tuple(findings))


def _results() -> dict[str, AuditResult]:
    base = F.result()
    known = replace(base, baseline=BaselineInfo(path="baseline.json", known=frozenset({base.findings[1].fingerprint})))
    return {"fixture": base, "known": known, "empty": F.empty_result(), "big": F.big_result(600),
            "demo-audit": D.demo_audit(), "demo-compare": D.demo_compare(), "odd": _odd_result()}


def test_printable_text_holds_no_character_the_sanitiser_shows() -> None:
    """visible() returns at once when str.isprintable() says yes: that is sound only while every character of the
    class is one isprintable() refuses."""
    every = "".join(map(chr, range(sys.maxunicode + 1)))
    shown = set(_ANY.findall(every))
    assert len(shown) > 500  # the class was found, not an empty match
    assert [hex(ord(c)) for c in shown if c.isprintable()] == []
    for c in shown - {"\t", "\n"}:  # the layout path (tabs and newlines kept) still finds each of them
        assert visible(f"a\n{c}\tb", layout=True) == f"a\n\\u{{{ord(c):04X}}}\tb"


@pytest.mark.parametrize("order", [("json", "md", "html", "junit"), ("junit", "html", "md", "json"),
                                   ("html", "junit"), ("md",), ("junit",)])
def test_every_format_rendered_together_is_what_it_is_alone(order: tuple[str, ...]) -> None:
    """One Prepared for all the formats (and its parts freed after their last reader) changes no byte."""
    for name, result in _results().items():
        together = render.render_all(result, order)
        alone = {"json": json_report.render_json(result), "html": html_report.render_html(result),
                 "junit": junit_report.render_junit(result)}
        for fmt in order:
            if fmt == "md":
                others = [render.FILE_NAMES[f] for f in ("html", "json") if f in order]
                full = (f"{' and '.join(others)} in the report directory" if others
                        else "the HTML report (--format html)")
                assert together[fmt] == md_report.render_md(result, full_report=full), (name, fmt)
            else:
                assert together[fmt] == alone[fmt], (name, fmt)


# The `evidence` macro of reports/_macros.html.j2 before auditor.report.templates.evidence_html took its place.
_MACRO = """{% macro evidence(f) -%}
{% for b in f.evidence | ev_blocks %}
{% if b.kind == "facts" %}<dl class="facts">{% for k, v in b.facts %}<div><dt>{{ k }}</dt><dd>{{ v }}</dd></div>{% endfor %}</dl>
{% elif b.kind == "list" %}<p class="evl"><b>{{ b.title }}:</b> {% for it in b["items"] %}<code>{{ it }}</code>{{ ", " if not loop.last }}{% endfor %}{% if b.more %} and {{ b.more }} more{% endif %}</p>
{% else %}<div class="scroll"><table class="ev"><caption>{{ b.title }} ({{ b.total }})</caption><thead><tr>{% for c in b.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead><tbody>{% for row in b.rows %}<tr>{% for v in row %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</tbody></table></div>{% if b.more %}<p class="muted">and {{ b.more }} more (all of them in report.json)</p>{% endif %}
{% endif %}
{% endfor %}
{%- endmacro %}"""  # noqa: E501 - the macro as it was


def _macro_reference() -> Any:
    reference = Environment(loader=DictLoader({"m.html.j2": _MACRO, "page.html.j2": '{% import "m.html.j2" as m %}'
                                               "[{{ m.evidence(f) }}]"}),
                            autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                            keep_trailing_newline=True, finalize=templates._last_pass)
    reference.filters["ev_blocks"] = evidence.blocks
    return reference.get_template("page.html.j2")


EVIDENCE = [
    {"count": 1}, {"pods": ["a", "b"]}, {"rows": [{"pod": "p", "ip": "1"}]}, {"count": 1, "pods": ["x"]},
    {"pods": ["x"], "n": 0, "rows": [{"pod": "p<", "z": None}] * 25},
    {"pods": [f"p{i}" for i in range(40)], "nested": {"ok": True, "ratio": 2.0}},
    {"odd": ODD, "table": [{"name": odd, "node": odd} for odd in ODD], "labels": {odd: odd for odd in ODD}},
    {}, {"nothing": None, "empty": []},
]


@pytest.mark.parametrize("ev", EVIDENCE)
def test_html_evidence_is_what_the_macro_wrote(ev: dict[str, Any]) -> None:
    f = Finding("r", Severity.ERROR, ObjectRef("Service", "ns", "n"), "m", evidence=ev)
    page = templates.env().from_string('{% import "_macros.html.j2" as m %}[{{ m.evidence(f) }}]')
    assert page.render(f=f) == _macro_reference().render(f=f)
    shared = templates.env().from_string('{% import "_macros.html.j2" as m with context %}[{{ m.evidence(f) }}]')
    assert shared.render(f=f, evidence_blocks=lambda x: evidence.blocks(x.evidence)) == page.render(f=f)


@pytest.mark.parametrize("text", ODD + ['a & b < c > d " e', "\t\n\r"])
def test_junit_elements_are_escaped_as_elementtree_escapes_them(text: str) -> None:
    el = ET.Element("failure", {"message": text, "type": "error"})
    el.text = text
    assert junit_report._element("failure", {"message": text, "type": "error"}, text) == ET.tostring(
        el, encoding="unicode")
    assert junit_report._element("skipped", {"message": text}, "") == ET.tostring(
        ET.Element("skipped", {"message": text}), encoding="unicode")


def test_junit_document_is_what_elementtree_writes_for_its_own_tree() -> None:
    """Parsed and written again by ElementTree (ET.indent, then tostring), every document comes back byte for
    byte: the text writer indents, escapes and closes elements as ElementTree does."""
    for name, result in _results().items():
        doc = junit_report.render_junit(result)
        head = '<?xml version="1.0" encoding="UTF-8"?>\n'
        assert doc.startswith(head), name
        tree = ET.fromstring(doc[len(head):])
        ET.indent(tree)
        assert head + ET.tostring(tree, encoding="unicode") + "\n" == doc, name


def test_markdown_cells_escaped_once_are_escaped_the_same() -> None:
    for odd in ODD + ["x" * 50, "a_b*c", "see http://x.example @me"]:
        first = templates.md_escape(odd)
        assert templates.md_escape(odd) == first == templates._md_escape(odd)
        expected = " | ".join(str(templates._md_escape(v)) for v in (odd, 3, odd))
        assert templates.md_join([odd, 3, odd], " | ") == expected
        assert type(templates.md_join([odd], ", ")) is str  # plain text: the template's last pass still runs on it


def test_what_to_do_first_merges_as_one_sort_would() -> None:
    """focus() merges the two ranked lists and stops at its first serious groups: the same groups, in the same
    order, as ranking all of them together (ties: Services first)."""
    for name, result in _results().items():
        services, others = groups.groups(result)
        for limit in (1, 3, groups.FOCUS_GROUPS, 50):
            ranked = sorted(services + others, key=lambda g: g.rank)
            serious = [g for g in ranked if g.worst > Severity.INFO]
            assert groups.focus(services, others, limit) == (serious or ranked)[:limit], (name, limit)
    infos = tuple(replace(f, severity=Severity.INFO) for f in F.result().findings)
    services, others = groups.groups(F.result(findings=infos))
    assert [g.worst for g in groups.focus(services, others)] == [Severity.INFO] * min(
        groups.FOCUS_GROUPS, len(services) + len(others))
