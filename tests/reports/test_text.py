"""The one sanitiser (auditor.report.text), and hostile names from the cluster through every output: terminal,
Markdown, HTML, JUnit and JSON, fix commands included."""
from __future__ import annotations

import html as html_lib
import io
import json
import re
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from auditor.facts import fixcmd
from auditor.model import AuditResult, Finding, ObjectRef, Severity, Written
from auditor.report import html_report, json_report, junit_report, md_report
from auditor.report.fleet import shown
from auditor.report.terminal import summary
from auditor.report.text import one_line, visible

TABLE = [
    ("plain name-1.x", "plain name-1.x"),
    ("a\u202eb", "a\\u{202E}b"),  # RIGHT-TO-LEFT OVERRIDE
    ("\u202a\u202b\u202c\u202d", "\\u{202A}\\u{202B}\\u{202C}\\u{202D}"),
    ("\u2066\u2067\u2068\u2069", "\\u{2066}\\u{2067}\\u{2068}\\u{2069}"),  # isolates
    ("\u200e\u200f\u061c", "\\u{200E}\\u{200F}\\u{061C}"),  # marks
    ("z\u200bw\u200cj\u200dn\u2060b\ufeff", "z\\u{200B}w\\u{200C}j\\u{200D}n\\u{2060}b\\u{FEFF}"),  # zero-width
    ("\x1b]0;owned\x07", "\\u{001B}]0;owned\\u{0007}"),  # OSC: set the window title
    ("\x1b[2J", "\\u{001B}[2J"),
    ("nel\x85csi\x9b", "nel\\u{0085}csi\\u{009B}"),  # C1
    ("nul\x00del\x7f", "nul\\u{0000}del\\u{007F}"),
    ("line\u2028para\u2029", "line\\u{2028}para\\u{2029}"),
    ("tag\U000e0041", "tag\\u{E0041}"),
    ("soft\xadhyphen", "soft\\u{00AD}hyphen"),
    ("ümlaut → ok … 名前", "ümlaut → ok … 名前"),  # printable text stays as it is
]


@pytest.mark.parametrize(("raw", "expected"), TABLE)
def test_visible_table(raw: str, expected: str) -> None:
    assert visible(raw) == expected
    assert one_line(raw) == expected
    assert shown(raw) == expected  # the fleet report uses the one sanitiser


def test_layout_keeps_tabs_and_newlines_only_when_asked() -> None:
    assert visible("a\tb\nc\rd") == "a\\u{0009}b\\u{000A}c\\u{000D}d"
    assert visible("a\tb\nc\rd", layout=True) == "a\tb\nc\\u{000D}d"
    assert one_line("a\n\n\tb\r\nc") == "a b c"


def test_every_unseen_character_of_this_python_is_shown() -> None:
    """The class is written out (no 0.3 s scan at import): it must cover what unicodedata calls a control, a
    format character, a surrogate or a line/paragraph separator."""
    missed = [hex(c) for c in range(0x110000)
              if unicodedata.category(chr(c)) in ("Cc", "Cf", "Cs", "Zl", "Zp") and visible(chr(c)) == chr(c)]
    assert missed == []


@pytest.mark.parametrize("raw", ["a\u202eb", "x\u200by", "c1\x85", "osc\x1b]0;t\x07", "it's", "back\\slash"])
def test_fix_command_quoting_reads_back_as_the_real_name_and_carries_no_control(raw: str) -> None:
    cmd = fixcmd.kubectl("get", "Service", raw, "shop")
    assert visible(cmd) == cmd  # nothing unseen in the command itself
    word = cmd.split(" ", 5)[-1]
    echoed = subprocess.run(["bash", "-c", f"printf '%s' {word}"], capture_output=True, check=True).stdout
    assert echoed.decode("utf-8", "surrogateescape") == raw  # bash reads the quoted word back as the name


HOSTILE_NAMES = {"rlo": "evil\u202egpj.exe", "zwsp": "ca\u200brt", "c1": "nel\x85x", "osc": "t\x1b]0;pwned\x07x"}
RAW = ("\u202e", "\u200b", "\x85", "\x1b", "\x07")


def _hostile_result() -> AuditResult:
    findings = []
    for i, name in enumerate(HOSTILE_NAMES.values()):
        findings.append(Finding(
            rule="stale-endpointslice", severity=Severity.ERROR, object=ObjectRef("EndpointSlice", name, name),
            message=f"1 stale endpoint for Service {name!s} (label {name})", remediation="restart the controller",
            evidence={"service": name, "pod": name, "labels": {"app": name}},
            fix=(fixcmd.kubectl("get", "EndpointSlice", name, name, "-o", "yaml"),
                 fixcmd.slices_of_service(name, name), f"raw {name} {i}")))
    return AuditResult(mode="audit", inputs=(), findings=tuple(findings), suppressed=(), fail_on=Severity.ERROR,
                       rules=(), notices=tuple(f"note about {n}" for n in HOSTILE_NAMES.values()))


def _no_raw(text: str, where: str) -> None:
    for ch in RAW:
        assert ch not in text, f"{where}: U+{ord(ch):04X} passed through"


def test_hostile_names_are_shown_escaped_in_every_format() -> None:
    r = _hostile_result()
    md = md_report.render_md(r)
    html = html_report.render_html(r)
    junit = junit_report.render_junit(r)
    term = summary(r, [], stream=io.StringIO())
    for where, text in (("md", md), ("html", html), ("junit", junit), ("terminal", term)):
        _no_raw(text, where)
        assert "\\u{202E}" in text and "\\u{200B}" in text, where
    for where, text in (("md", md), ("html", html), ("junit", junit)):
        assert "\\u{0085}" in text and "\\u{001B}]0;pwned\\u{0007}" in text, where
        # the fix commands: ANSI-C quoted, so a copy pasted into bash names the real object
        assert "$'evil\\u202egpj.exe'" in (html_lib.unescape(text) if where == "html" else text), where
    ET.fromstring(junit.encode())  # still well-formed XML 1.0
    # report.json is data: JSON's own escapes (\u202e) carry the exact name for tools
    doc = json.loads(json_report.render_json(r) if hasattr(json_report, "render_json") else
                     json.dumps(json_report.to_dict(r)))
    assert doc["findings"][0]["object"]["name"] in HOSTILE_NAMES.values()


def test_ci_log_never_cuts_object_names() -> None:
    long = "a-very-long-service-name-" + "x" * 90
    f = Finding(rule="stale-endpointslice", severity=Severity.ERROR, object=ObjectRef("Service", "shop", long),
                message="m" * 200)
    r = AuditResult(mode="audit", inputs=(), findings=(f,), suppressed=(), fail_on=Severity.ERROR, rules=())
    assert long in summary(r, [], stream=io.StringIO())  # a pipe: the whole name
    assert long not in summary(r, [], stream=io.StringIO(), width=80)  # a given width (a terminal): fitted
    assert re.search(r"shop/a-very.*…", summary(r, [], stream=io.StringIO(), width=80))


def test_upload_error_and_error_lines_are_shown(tmp_path: Path) -> None:
    from auditor.report.terminal import present

    said: list[tuple[str, bool]] = []
    from auditor.report.share import UploadError
    w = Written(replace(_hostile_result(), findings=()), (), upload_error=UploadError("proxy said \x1b]0;x\x07"))
    assert present(w, echo=lambda text, err: said.append((text, err))) == 3
    for text, _ in said:
        _no_raw(text, "present")


def test_progress_and_summary_lines_of_the_cli_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    """snapshot's, verify's and fleet's lines go through `say`: a Service name from the cluster in a progress line
    cannot set the terminal's title."""
    from auditor.cli.runner import say

    say("verify 0:02: 1 Service(s) not converged: shop/t\x1b]0;pwned\x07x \u202eevil", err=True)
    say("last state: out/after-snapshot.json.gz\nline two")
    captured = capsys.readouterr()
    _no_raw(captured.err + captured.out, "say")
    assert "shop/t\\u{001B}]0;pwned\\u{0007}x \\u{202E}evil" in captured.err
    assert captured.out == "last state: out/after-snapshot.json.gz\nline two\n"
