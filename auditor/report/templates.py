"""The reports' Jinja environment and the filters its templates use: cluster text escaped for GitHub Markdown and
for HTML, and our own prose (rule docs, remediations) as HTML."""
from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from auditor.report import evidence
from auditor.report.text import Clean, one_line, visible

# Everything GFM could read as markup.
_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]<>|#!~])")
# What GFM's autolinker starts from (scheme://, www., mailto:/xmpp:): escaping the ':' or '.' breaks it.
_AUTOLINK = re.compile(r"(?i):(?=/)|(?<=mailto):|(?<=xmpp):|(?<=\bwww)\.")
# GitHub links @name and @org/team in text after rendering, escaped or not: a WORD JOINER after '@'
# (invisible) means no name follows it, so nobody is pinged.
_NO_MENTION = "@\u2060"


def md_escape(value: object) -> Clean:
    """Escape text from the cluster for GitHub Markdown: no markup, no HTML, no table breaks, no links,
    no mentions, no unseen characters (auditor.report.text); one line."""
    if type(value) is str:
        return _md_escape_text(value)
    return _md_escape(value)


# The Markdown is rendered a dozen times to fit GitHub's limit, and names, kinds and messages repeat: each text is
# escaped once (forget_md_cells frees them).
@lru_cache(maxsize=16384)
def _md_escape_text(value: str) -> Clean:
    return _md_escape(value)


def forget_md_cells() -> None:
    """Free the Markdown cells escaped so far (render_md, once its renders are done)."""
    _md_escape_text.cache_clear()


def _md_escape(value: object) -> Clean:
    text = " ".join(one_line(value).split())
    text = _MD_ESCAPE.sub(r"\\\1", text.replace("&", "&amp;"))
    return Clean(_AUTOLINK.sub(lambda m: "\\" + m.group(), text).replace("@", _NO_MENTION))


def md_join(values: Iterable[object], separator: str) -> str:
    """`values | map("md") | join(separator)` in one call: each value escaped (md_escape), the whole plain text
    again, as join gives it, for the template's last pass."""
    return separator.join([md_escape(v) for v in values])


def md_html(value: object) -> Clean:
    """Escape text from the cluster for an HTML line of the Markdown (<summary>...): GitHub passes such a
    line through as HTML, so backslashes do nothing there; entities do, and mentions still need breaking."""
    return Clean(str(escape(one_line(value))).replace(":", "&#58;").replace("@", _NO_MENTION))


def md_code(lines: object, indent: str = "") -> Clean:
    """Commands as a fenced block, fenced longer than any run of backticks inside so nothing ends it early."""
    items = [lines] if isinstance(lines, str) else list(lines)  # type: ignore[call-overload]
    body = [one_line(c) for c in items]
    longest = max([0] + [len(m) for c in body for m in re.findall(r"`+", c)])
    fence = "`" * max(3, longest + 1)
    return Clean("\n".join(indent + line for line in [fence + "sh", *body, fence]))


class CleanMarkup(Markup, Clean):
    """HTML a renderer built from text it already showed (every unseen character written out): the last pass
    leaves it be, so a large block (the HTML's findings data) is not scanned twice."""

    __slots__ = ()


def _last_pass(value: object) -> object:
    """Every `{{ }}` of every template, last: unseen characters shown, whatever the template forgot. Text a
    filter already made clean (Clean) is left be; Markup stays Markup (showing adds no markup); tabs and
    newlines stay (an HTML <pre>, a Markdown block)."""
    if isinstance(value, Clean) or not isinstance(value, str):
        return value
    shown = visible(value, layout=True)
    if shown is value:
        return value
    return Markup(shown) if isinstance(value, Markup) else shown


def _cell(value: str) -> str:
    """A text of an HTML block as a template's `{{ value }}` writes it: shown (the last pass), then escaped."""
    return str(escape(visible(value, layout=True)))


def evidence_html(blocks: list[evidence.Block]) -> CleanMarkup:
    """A finding's evidence blocks as HTML: facts as a definition list, a list of values inline (each of those two
    ends its line), rows as a table; capped lists say how many more. What the `evidence` macro of _macros.html.j2 wrote
    with a `{{ }}` per cell, byte for byte; in Python it costs a quarter."""
    out = []
    for b in blocks:
        if b.kind == "facts":
            out.append('<dl class="facts">' + "".join(f"<div><dt>{_cell(k)}</dt><dd>{_cell(v)}</dd></div>"
                                                     for k, v in b.facts) + "</dl>\n")
        elif b.kind == "list":
            more = f" and {b.more} more" if b.more else ""
            out.append(f'<p class="evl"><b>{_cell(b.title)}:</b> '
                       + ", ".join(f"<code>{_cell(it)}</code>" for it in b.items) + f"{more}</p>\n")
        else:
            head = "".join(f"<th>{_cell(c)}</th>" for c in b.columns)
            body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in b.rows)
            more = f'<p class="muted">and {b.more} more (all of them in report.json)</p>' if b.more else ""
            out.append(f'<div class="scroll"><table class="ev"><caption>{_cell(b.title)} ({b.total})</caption>'
                       f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}")  # no line end
    return CleanMarkup("".join(out))


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


@lru_cache(maxsize=1024)  # a rule's remediation repeats under each of its findings
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
def env() -> Environment:
    """The one environment every template renders in (built once)."""
    # select_autoescape matches the end of the template name: "html.j2" turns escaping on for
    # report.html.j2 and every _*.html.j2 part; md and js templates are escaped by hand or carry no data.
    environment = Environment(loader=PackageLoader("auditor.reports", "."),
                              autoescape=select_autoescape(enabled_extensions=("html.j2", "html"), default=False),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                              keep_trailing_newline=True, finalize=_last_pass)
    environment.filters["md"] = md_escape
    environment.filters["md_join"] = md_join
    environment.filters["mdhtml"] = md_html
    environment.filters["mdcode"] = md_code
    environment.filters["doc_html"] = doc_html
    environment.filters["ev_blocks"] = evidence.blocks
    environment.filters["ev_html"] = evidence_html
    environment.filters["inline_code"] = inline_code
    return environment
