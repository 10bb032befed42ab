"""Markdown, JUnit, HTML (static checks) and terminal output from one fixture; golden files for md/junit.

UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports regenerates the golden files."""
from __future__ import annotations

import io
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import report_fixture as F

from auditor import render
from auditor.model import Severity
from auditor.terminal import summary

GOLDEN = Path(__file__).parent / "golden"
XSD = Path(__file__).parent / "junit.xsd"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file (UPDATE_GOLDEN=1)"


def test_markdown_golden() -> None:
    _golden("report.md", render.render_md(F.result()))


def test_junit_golden() -> None:
    _golden("report.junit.xml", render.render_junit(F.result()))


# --- Markdown ---------------------------------------------------------------------------------------

def test_markdown_escapes_cluster_values() -> None:
    md = render.render_md(F.result())
    raw_tags = set(re.findall(r"(?<!\\)<(/?[a-z]+)", md))
    assert raw_tags <= {"details", "/details", "summary", "/summary", "b", "/b"}, raw_tags
    assert r"\<img src=x onerror=alert\(1\)\>" not in md  # parentheses are left alone
    assert r"\<img src=x onerror=alert(1)\>" in md
    assert r"\@octo-org/team" in md  # no mention
    assert r"\*\*bold\*\*" in md and r"\[x\]" in md
    for line in md.splitlines():  # a '|' inside a value never splits a table row
        if line.startswith("| error | `stale-endpointslice`"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 5


def test_markdown_puts_verdict_and_notices_first() -> None:
    md = render.render_md(F.result())
    lines = md.splitlines()
    assert lines[0].startswith("## ❌") and "FAIL" in lines[0] and "not converged" in lines[0]
    assert md.index("after.json.gz is incomplete") < md.index("### Worst findings")
    assert md.index("[!WARNING]") < md.index("| findings |")


def test_markdown_worst_first_and_details_per_rule() -> None:
    md = render.render_md(F.result())
    worst = md[md.index("### Worst findings"):md.index("### Findings by rule")]
    sevs = re.findall(r"^\| (error|warning|info) \|", worst, re.M)
    assert sevs == sorted(sevs, key=lambda s: -Severity.parse(s))
    assert md.count("<details><summary><b>") == 5
    assert md.count("</details>") == 7  # five rules, the EKS section and the suppressed list
    assert "<details><summary>EKS cluster <b>" in md


def test_markdown_cap_with_10000_findings_is_fast_and_says_what_was_left_out() -> None:
    big = F.big_result(10_000)
    start = time.perf_counter()
    md = render.render_md(big, full_report="report.html in the job's artifacts")
    elapsed = time.perf_counter() - start
    assert len(md) <= render.MD_LIMIT
    assert len(md) > render.MD_LIMIT - 2_000, "the cap should be filled, not left half empty"
    m = re.search(r"\*\*(\d+) of 10000 findings were left out.*report\.html in the job's artifacts", md)
    assert m, md[-500:]
    shown = len(re.findall(r"^\| (?:error|warning|info) \| EndpointSlice", md, re.M))  # rows under each rule
    assert shown + int(m.group(1)) == 10_000
    # the kept ones are the worst: no info finding shown while an error was left out
    assert "| info |" not in md.split("### Findings by rule")[1]
    assert elapsed < 3, f"render_md took {elapsed:.2f}s for 10,000 findings"


def test_markdown_cap_holds_when_the_frame_alone_is_too_long() -> None:
    base = F.big_result(50)
    sup = tuple(F.SUPPRESSED[0].__class__(f, "r" * 400) for f in F.big_result(400).findings)
    notices = tuple(f"notice {i}: " + "n" * 300 for i in range(300))
    md = render.render_md(F.result(suppressed=sup, notices=notices, findings=base.findings))
    assert len(md) <= render.MD_LIMIT
    assert "left out" in md or "more in" in md


def test_markdown_without_findings() -> None:
    md = render.render_md(F.empty_result())
    assert "✅" in md and "PASS" in md and "No findings." in md
    assert "[!WARNING]" not in md


# --- JUnit ------------------------------------------------------------------------------------------

def _junit_schema():  # type: ignore[no-untyped-def]
    import xmlschema  # in the `test` extra: a missing validator must fail, not skip

    return xmlschema.XMLSchema(str(XSD))


@pytest.mark.parametrize("make", [F.result, F.empty_result, lambda: F.big_result(500)])
def test_junit_is_valid_against_the_common_schema(make) -> None:  # type: ignore[no-untyped-def]
    xml = render.render_junit(make())
    _junit_schema().validate(xml)


def test_junit_counts_match_the_testcases() -> None:
    r = F.result()
    root = ET.fromstring(render.render_junit(r))
    suites = root.findall("testsuite")
    assert len(suites) == 1 and suites[0].get("name") == "eks-upgrade-auditor compare"
    suite = suites[0]
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "-1")) == len(cases) == len(r.rules)
    failed = [c for c in cases if c.find("failure") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert int(suite.get("failures", "-1")) == len(failed)
    assert int(suite.get("skipped", "-1")) == len(skipped) == 1
    assert suite.get("timestamp") == "2024-06-01T12:00:00"
    stale = next(c for c in cases if c.get("name") == "stale-endpointslice")
    failures = stale.findall("failure")
    assert len(failures) == 2  # one per finding at or above fail-on
    assert any(F.HOSTILE in (f.get("message") or "") for f in failures)
    # below the threshold: reported, not failed
    handmade = next(c for c in cases if c.get("name") == "handmade-endpointslice")
    assert handmade.find("failure") is None and "cart-manual" in (handmade.findtext("system-out") or "")


def test_junit_never_fails_with_fail_on_never_and_strips_control_characters() -> None:
    r = F.result(fail_on=None)
    xml = render.render_junit(r)
    assert "<failure" not in xml
    bad = F.result(findings=(F.FINDINGS[0].__class__(rule="stale-endpointslice", severity=Severity.ERROR,
                                                      object=F.FINDINGS[0].object, message="bell\x07 nul\x00"),))
    ET.fromstring(render.render_junit(bad))  # parses


# --- HTML, without a browser -----------------------------------------------------------------------

def test_html_escapes_every_cluster_value_and_allows_only_its_own_scripts() -> None:
    html = render.render_html(F.result())
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script>") == 2  # ours: the head flag and the table code
    assert "</script><script>alert(2)" not in html
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no network resources"


def test_html_sections_present() -> None:
    html = render.render_html(F.result())
    for anchor in ("notices", "counts", "rotation", "eks", "findings", "rules", "suppressed"):
        assert f'id="{anchor}"' in html
    assert "<svg" in html and "not converged" in html
    assert html.index('id="notices"') < html.index('id="findings"')
    assert "managed by our Terraform, reviewed 2024-05" in html  # suppression reason
    assert "eks:DescribeInsight" in html and "v1.18.3-eksbuild.2" in html and "Deprecated API usage" in html


def test_html_chart_puts_not_converged_services_first() -> None:
    html = render.render_html(F.result())
    svg = html[html.index("<svg"):html.index("</svg>")]
    labels = re.findall(r'<text class="label[^"]*"[^>]*>([^<]+)</text>', svg)
    assert labels[0] == "shop/checkout" and labels[-1] == "shop/cart"


# --- terminal ---------------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_plain_when_not_a_tty_and_aligned() -> None:
    text = summary(F.result(), [Path("out/report.html")], stream=io.StringIO(), urls=["https://b.s3/x"])
    assert "\x1b[" not in text
    rows = [line for line in text.splitlines() if re.match(r"  (error|warning|info)\b", line)]
    assert len(rows) == len(F.FINDINGS)
    assert len({line.find(line.split()[1]) for line in rows}) == 1  # rule column aligned
    assert len({line.find(line.split()[2]) for line in rows}) == 1  # object column aligned
    assert "out/report.html" in text and "https://b.s3/x" in text
    assert "payments/<img src=x onerror=" in text  # terminals show text as text


def test_terminal_colour_only_on_a_tty_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert "\x1b[31" in summary(F.result(), [], stream=_Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in summary(F.result(), [], stream=_Tty())


def test_terminal_strips_control_sequences_from_cluster_values() -> None:
    evil = F.FINDINGS[0].__class__(rule="stale-endpointslice", severity=Severity.ERROR,
                                   object=F.FINDINGS[0].object, message="\x1b]0;pwned\x07\x1b[2J")
    text = summary(F.result(findings=(evil,)), [], stream=io.StringIO())
    assert "\x1b" not in text and "\x07" not in text


# --- files ------------------------------------------------------------------------------------------

def test_write_reports_writes_every_format(tmp_path: Path) -> None:
    paths = render.write_reports(F.result(), tmp_path / "out", ("html", "md", "json", "junit"))
    assert [p.name for p in paths] == ["report.html", "report.md", "report.json", "report.junit.xml"]
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["summary"]["converged"] is False and data["schemaVersion"] == 1
    assert not list((tmp_path / "out").glob(".*.tmp"))


# --- partial data: sections render from whatever the engine produced ---------------------------------

def test_minimal_rotation_and_eks_data_render_everywhere() -> None:
    r = F.result(rotation={"kind": "no change", "converged": True}, eks={"clusterName": "c1"}, converged=True)
    html = render.render_html(r)
    assert "Rotation: no change" in html and "EKS cluster c1" in html and "No Service" in html
    assert "Rotation: no change" in render.render_md(r)
    render.render_junit(r)


def test_verify_verdict_is_convergence_alone() -> None:
    r = F.result(mode="verify", converged=True)
    assert r.passed
    assert "**PASS** (converged)" in render.render_md(r).splitlines()[0]
    assert "PASS: converged" in render.render_html(r)
    assert summary(r, [], stream=io.StringIO()).startswith("PASS  verify (converged)")
