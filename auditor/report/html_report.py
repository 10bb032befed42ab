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

from auditor.model import AuditResult, Severity
from auditor.report import evidence
from auditor.report.prepared import Prepared, prepared
from auditor.report.templates import CleanMarkup, env
from auditor.report.text import visible

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


def _shown_blocks(blocks: list[evidence.Block]) -> list[evidence.Block]:
    """The blocks with every text as the template shows it (the slow path: a name with an unseen character)."""
    return [b._replace(title=_shown(b.title), columns=tuple(map(_shown, b.columns)),
                       rows=tuple(tuple(map(_shown, row)) for row in b.rows), items=tuple(map(_shown, b.items)),
                       facts=tuple((_shown(k), _shown(v)) for k, v in b.facts)) for b in blocks]


def _block_data(blocks: list[evidence.Block], strings: dict[Any, int], columns: dict[Any, int]) -> list[list[Any]]:
    """The evidence blocks (auditor.report.evidence) as arrays of indexes into `strings`: [0, facts] |
    [1, title, items, more] | [2, title, columns index, rows, total, more]. Cells repeat across findings (nodes,
    zones, conditions): stored once, a 10,000-finding page is 2.7 MB smaller."""
    # `s(x, len(strings))` interns x: its index, a new one the first time (a dict keeps insertion order). Inline,
    # not a helper per string: 200,000 calls for 6,000 findings were a third of the data's cost.
    s = strings.setdefault
    out: list[list[Any]] = []
    for b in blocks:
        if b.kind == "facts":
            out.append([0, [[s(k, len(strings)), s(v, len(strings))] for k, v in b.facts]])
        elif b.kind == "list":
            title = s(b.title, len(strings))
            out.append([1, title, [s(it, len(strings)) for it in b.items], b.more])
        else:
            title = s(b.title, len(strings))
            cols = tuple([s(c, len(strings)) for c in b.columns])
            out.append([2, title, columns.setdefault(cols, len(columns)),
                        [[s(v, len(strings)) for v in row] for row in b.rows], b.total, b.more])
    return out


def _encode(result: AuditResult, prep: Prepared, show: Callable[[object], str] | None) -> str:
    """The findings data; `show` writes out unseen characters (None: every text is known to have none)."""
    severities = [s.label for s in sorted(Severity, reverse=True)]
    sev = {label: i for i, label in enumerate(severities)}
    rules: dict[Any, int] = {}
    kinds: dict[Any, int] = {}
    namespaces: dict[Any, int] = {}
    remediations: dict[Any, int] = {}
    columns: dict[Any, int] = {}
    strings: dict[Any, int] = {}
    by_text: dict[str, int] = {}
    text = show or str
    rows = []
    for f in result.findings:
        o = f.object
        remediation = by_text.get(f.remediation)  # one of a few texts: split and shown once each
        if remediation is None:
            remediation = by_text[f.remediation] = (
                remediations.setdefault(text(" ".join(f.remediation.split())), len(remediations))
                if f.remediation else -1)
        rule = rules.setdefault(text(f.rule), len(rules))
        kind = kinds.setdefault(text(o.kind), len(kinds))
        namespace = namespaces.setdefault(text(o.namespace), len(namespaces))
        data = None
        if f.evidence:
            blocks = prep.blocks(f)
            data = _block_data(_shown_blocks(blocks) if show else blocks, strings, columns)
        rows.append([sev[f.severity.label], rule, kind, namespace, text(o.name), text(f.message),
                     int(result.is_known(f)), remediation, data, text("\n".join(f.fix)) if f.fix else ""])
    return orjson.dumps({"sev": severities, "rules": list(rules), "kinds": list(kinds), "ns": list(namespaces),
                         "rem": list(remediations), "cols": list(columns), "s": list(strings),
                         "f": rows}).decode("utf-8")


# In orjson's output a C0 control is an escape (\u0001, \b, \f, \r; tab and newline stay, as the page keeps them);
# `\\b` (a backslash, then b) matches too: that only costs the slow path.
_CONTROL_ESCAPE = re.compile(r"\\(?:u00[01]|[bfr])")


def _needs_showing(text: str) -> bool:
    """Whether any string in the encoded data holds a character the template's last pass would write out."""
    if _CONTROL_ESCAPE.search(text) or "\x7f" in text:
        return True
    return not text.isascii() and visible(text, layout=True) is not text


def findings_data(result: AuditResult, prep: Prepared | None = None) -> CleanMarkup:
    """Every finding as the table's script reads it, safe inside <script type="application/json">: names and
    labels come from the cluster, and no `</script>` or `<!--` in them can end the element or open a comment.
    Every string is shown as the template would show it (unseen characters written out); checking the encoded
    whole first spares 400,000 calls for 10,000 findings when, as almost always, there is none."""
    prep = prepared(result, prep)
    text = _encode(result, prep, None)
    if _needs_showing(text):
        text = _encode(result, prep, _shown)
    for raw, escaped in _ISLAND_ESCAPES:
        text = text.replace(raw, escaped)
    return CleanMarkup(text)


def render_html(result: AuditResult, prep: Prepared | None = None) -> str:
    prep = prepared(result, prep)
    environment = env()
    script = environment.get_template("_report.js.j2").render()
    # The CSP allows exactly this script by hash: an injected inline handler or <script> would not run. The data
    # island is not a script to run (type application/json): the CSP has nothing to say about it.
    return environment.get_template("report.html.j2").render(
        **prep.view, script=Markup(script), script_hashes=_csp_hash(script),
        findings_data=findings_data(result, prep) if result.findings else "", first_rows=FIRST_ROWS,
        evidence_blocks=prep.blocks)
