"""report.html: one self-contained page; its one script runs by hash under a strict Content-Security-Policy.

The findings table travels as data: a JSON island the script builds the visible rows from (a page of them at a
time), with the first page also rendered here so the table reads with JavaScript off. Parsing 10,000 rendered
rows (17.5 MB) took the browser 2.3 s before the page answered; parsing the data takes a small part of that."""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

import orjson
from markupsafe import Markup

from auditor.model import AuditResult, Finding, Severity
from auditor.report import evidence
from auditor.report.templates import CleanMarkup, env
from auditor.report.text import visible
from auditor.report.view import build_view

#: Findings rendered on the server: the first page of the table (the script's default page size).
FIRST_ROWS = 100

# What could end a <script> element or open an HTML comment inside it, and the two line terminators old parsers
# took for newlines: written as JSON escapes, which JSON.parse reads back to the same text.
_ISLAND_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                   ("\u2029", "\\u2029"))


def _csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def _shown(value: object) -> str:
    """Text as the template shows it (its last pass: auditor.report.templates): unseen characters written out."""
    return visible(value, layout=True)


def _as_is(value: object) -> str:
    return str(value)


class _Interned:
    """Repeated strings (rules, kinds, namespaces, remediations, table columns) stored once, rows hold an index."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._index: dict[Any, int] = {}

    def __call__(self, value: Any) -> int:
        i = self._index.get(value)
        if i is None:
            i = self._index[value] = len(self.items)
            self.items.append(value)
        return i


def _blocks(f: Finding, columns: _Interned, text: Callable[[object], int]) -> list[list[Any]] | None:
    """The evidence blocks (auditor.report.evidence) as arrays of string indexes (`text`): [0, facts] |
    [1, title, items, more] | [2, title, columns index, rows, total, more]. None when the finding has no
    evidence at all. Cells repeat across findings (nodes, zones, conditions): stored once, a 10,000-finding
    page is 2.7 MB smaller."""
    if not f.evidence:
        return None
    out: list[list[Any]] = []
    for b in evidence.blocks(f.evidence):
        if b.kind == "facts":
            out.append([0, [[text(k), text(v)] for k, v in b.facts]])
        elif b.kind == "list":
            out.append([1, text(b.title), [text(it) for it in b.items], b.more])
        else:
            out.append([2, text(b.title), columns(tuple(text(c) for c in b.columns)),
                        [[text(v) for v in row] for row in b.rows], b.total, b.more])
    return out


def _encode(result: AuditResult, shown: Callable[[object], str]) -> str:
    severities = [s.label for s in sorted(Severity, reverse=True)]
    rules, kinds, namespaces, remediations, columns, strings = (_Interned() for _ in range(6))

    def text(value: object) -> int:
        return strings(shown(value))

    rows = []
    for f in result.findings:
        o = f.object
        remediation = remediations(shown(" ".join(f.remediation.split()))) if f.remediation else -1
        rows.append([severities.index(f.severity.label), rules(shown(f.rule)), kinds(shown(o.kind)),
                     namespaces(shown(o.namespace)), shown(o.name), shown(f.message), int(result.is_known(f)),
                     remediation, _blocks(f, columns, text), shown("\n".join(f.fix)) if f.fix else ""])
    return orjson.dumps({"sev": severities, "rules": rules.items, "kinds": kinds.items, "ns": namespaces.items,
                         "rem": remediations.items, "cols": columns.items, "s": strings.items,
                         "f": rows}).decode("utf-8")


# In orjson's output a C0 control is an escape (\u0001, \b, \f, \r; tab and newline stay, as the page keeps them);
# `\\b` (a backslash, then b) matches too: that only costs the slow path.
_CONTROL_ESCAPE = re.compile(r"\\(?:u00[01]|[bfr])")


def _needs_showing(text: str) -> bool:
    """Whether any string in the encoded data holds a character the template's last pass would write out."""
    if _CONTROL_ESCAPE.search(text) or "\x7f" in text:
        return True
    return not text.isascii() and visible(text, layout=True) is not text


def findings_data(result: AuditResult) -> CleanMarkup:
    """Every finding as the table's script reads it, safe inside <script type="application/json">: names and
    labels come from the cluster, and no `</script>` or `<!--` in them can end the element or open a comment.
    Every string is shown as the template would show it (unseen characters written out); checking the encoded
    whole first spares 400,000 calls for 10,000 findings when, as almost always, there is none."""
    text = _encode(result, _as_is)
    if _needs_showing(text):
        text = _encode(result, _shown)
    for raw, escaped in _ISLAND_ESCAPES:
        text = text.replace(raw, escaped)
    return CleanMarkup(text)


def render_html(result: AuditResult) -> str:
    environment = env()
    script = environment.get_template("_report.js.j2").render()
    # The CSP allows exactly this script by hash: an injected inline handler or <script> would not run. The data
    # island is not a script to run (type application/json): the CSP has nothing to say about it.
    return environment.get_template("report.html.j2").render(
        **build_view(result), script=Markup(script), script_hashes=_csp_hash(script),
        findings_data=findings_data(result) if result.findings else "", first_rows=FIRST_ROWS)
