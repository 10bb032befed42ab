"""Markdown, JUnit, HTML (static checks) and terminal output from one fixture; golden files for md/junit.

UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports regenerates the golden files."""
from __future__ import annotations

import io
import json
import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import demo_results as D
import pytest
import report_fixture as F

from auditor.errors import ConfigError
from auditor.model import Finding, ObjectRef, Severity
from auditor.report import html_report, json_report, junit_report, md_report, render
from auditor.report.terminal import summary

GOLDEN = Path(__file__).parent / "golden"
XSD = Path(__file__).parent / "junit.xsd"


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file (UPDATE_GOLDEN=1)"


@pytest.mark.parametrize("name, make", [("compare", D.demo_compare), ("audit", D.demo_audit)])
def test_golden_files_from_the_demo_run(name: str, make) -> None:  # type: ignore[no-untyped-def]
    r = make()
    _golden(f"demo-{name}.md", md_report.render_md(r))
    _golden(f"demo-{name}.junit.xml", junit_report.render_junit(r))


# --- Markdown ---------------------------------------------------------------------------------------

def test_markdown_escapes_cluster_values() -> None:
    md = md_report.render_md(F.result())
    prose = re.sub(r"(?ms)^ *(`{3,})sh\n.*?^ *\1$", "", md)  # fenced code shows text as text
    assert re.search(r"(?<!\\)<img", md) and not re.search(r"(?<!\\)<img", prose)
    raw_tags = set(re.findall(r"(?<!\\)<(/?[a-z]+)", prose))
    assert raw_tags <= {"details", "/details", "summary", "/summary", "b", "/b"}, raw_tags
    assert r"\<img src=x onerror=alert(1)\>" in md  # parentheses are left alone
    assert "@octo" not in md and "@\u2060octo-org/team" in md  # never a mention, escaped or not
    assert r"\*\*bold\*\*" in md and r"\[x\]" in md and r"\[click\](javascript" in md
    assert "http://evil" not in md and r"http\://evil.example" in md  # no autolink either
    for line in md.splitlines():  # a '|' inside a value never splits a table row
        if line.startswith("| error | EndpointSlice payments/"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 4, line
        if line.startswith("| 10.0.9.9 |"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 3, line


def test_markdown_html_lines_are_html_escaped() -> None:
    """A <summary> line is raw HTML on GitHub: backslashes do nothing there, entities do."""
    eks = dict(F.EKS, name="</summary></details><img src=x> @octo-org/team javascript:alert(1)")
    md = md_report.render_md(F.result(eks=eks))
    summaries = [line for line in md.splitlines() if line.startswith("<details><summary>")]
    assert summaries
    for line in summaries:
        inner = line[len("<details><summary>"):line.rindex("</summary>")]
        assert not re.search(r"<(?!/?b>)", inner), line  # only our own <b>
        assert "@octo" not in inner and "javascript:" not in inner
    assert "&lt;/summary&gt;&lt;/details&gt;&lt;img src=x&gt;" in md


def test_markdown_fences_cannot_be_closed_by_a_fix() -> None:
    md = md_report.render_md(F.result())
    # the block is printed once, under "what to do first" (indented in its list item)
    assert md.count("kubectl -n payments get endpointslice") == 1
    block = md[md.index("`````sh\n     kubectl -n payments"):]
    body = [line.strip() for line in block.split("\n")]
    assert body[0] == "`````sh" and body[2] == "echo ```` and `tick`" and body[3] == "`````"


def test_markdown_marker_and_report_url() -> None:
    md = md_report.render_md(F.result(), report_url="https://reports.example/a)b/report.html")
    assert md.splitlines()[0] == md_report.MARKER == "<!-- eks-upgrade-auditor-report -->"
    assert "**Full report:** [report.html](https://reports.example/a%29b/report.html)" in md  # ')' cannot end it
    for bad in ("javascript:alert(1)", "https://a b", "data:text/html,x"):
        assert "Full report" not in md_report.render_md(F.result(), report_url=bad)
    big = md_report.render_md(F.big_result(10_000), report_url="https://reports.example/r/report.html")
    assert "[report.html](https://reports.example/r/report.html)" in big
    assert re.search(r"findings were left out .*the full list is in \[the full report\]"
                     r"\(https://reports\.example/r/report\.html\)", big)


def test_markdown_puts_verdict_and_notices_first() -> None:
    md = md_report.render_md(F.result())
    lines = md.splitlines()
    assert lines[1].startswith("## ❌") and "FAIL" in lines[1] and "not converged" in lines[1]
    assert md.index("after.json.gz is incomplete") < md.index("### What to do first")
    assert md.index("[!WARNING]") < md.index("| findings |")


def test_markdown_groups_by_service_and_shows_evidence_and_fixes() -> None:
    md = md_report.render_md(D.demo_compare())
    first = md[md.index("### What to do first"):md.index("### Findings by rule")]
    assert first.index("**Service shop/recommendations**") < first.index("**Service payments/fraud-check**")
    # evidence: the missing Pods with their IPs and nodes, collapsed under the finding
    ev = md[md.index("<details><summary>Service payments/fraud-check: evidence"):]
    ev = ev[:ev.index("</details>")]
    for text in ("fraud-check-tdg7s7smwr-sptmb", "10.0.84.43", "ip-10-0-3-14.eu-west-1.compute.internal"):
        assert text in ev
    assert md.count("<details>") == md.count("</details>")


def test_markdown_caps_long_evidence() -> None:
    md = md_report.render_md(F.result())
    assert "endpoints (50):" in md and "and 40 more in report.json" in md
    assert "cart-7d9f-009" in md and "cart-7d9f-010" not in md
    data = json.loads(json_report.render_json(F.result()))
    slice_ = next(f for f in data["findings"] if f["object"]["name"] == "cart-x8k2p")
    assert len(slice_["evidence"]["endpoints"]) == 50


def test_markdown_cap_with_10000_findings_is_fast_and_says_what_was_left_out() -> None:
    big = F.big_result(10_000)
    start = time.perf_counter()
    md = md_report.render_md(big, full_report="report.html in the job's artifacts")
    elapsed = time.perf_counter() - start
    assert len(md) <= md_report.MD_LIMIT
    assert len(md) > md_report.MD_LIMIT - 2_000, "the cap should be filled, not left half empty"
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
    md = md_report.render_md(F.result(suppressed=sup, notices=notices, findings=base.findings))
    assert len(md) <= md_report.MD_LIMIT
    assert "left out" in md or "more in" in md


def test_markdown_without_findings() -> None:
    md = md_report.render_md(F.empty_result())
    assert "✅" in md and "PASS" in md and "No findings." in md
    assert "[!WARNING]" not in md


# --- JUnit ------------------------------------------------------------------------------------------

JENKINS_XSD = Path(__file__).parent / "jenkins-junit.xsd"


def _schemas():  # type: ignore[no-untyped-def]
    import xmlschema  # in the `test` extra: a missing validator must fail, not skip

    return [xmlschema.XMLSchema(str(XSD)), xmlschema.XMLSchema(str(JENKINS_XSD))]


@pytest.mark.parametrize("make", [F.result, F.empty_result, lambda: F.big_result(500), D.demo_compare,
                                  D.demo_audit])
def test_junit_is_valid_against_the_repo_and_jenkins_schemas(make) -> None:  # type: ignore[no-untyped-def]
    xml = junit_report.render_junit(make())
    for schema in _schemas():
        schema.validate(xml)


def _cases(xml: str) -> tuple[ET.Element, list[ET.Element]]:
    suite = ET.fromstring(xml).find("testsuite")
    assert suite is not None
    return suite, suite.findall("testcase")


def test_junit_one_testcase_per_finding_clean_rules_pass_and_unrun_rules_skip() -> None:
    r = D.demo_compare()
    suite, cases = _cases(junit_report.render_junit(r))
    by_finding = [c for c in cases if c.get("name") not in ("no findings", "not run", "cluster converged")]
    assert len(by_finding) == len(r.findings) == 14
    # the verdict has a testcase of its own, first: not converged fails the gate, so it fails too
    convergence = cases[0]
    assert (convergence.get("classname"), convergence.get("name")) == ("convergence", "cluster converged")
    assert r.converged is False and convergence.find("failure") is not None
    failed = [c for c in cases if c.find("failure") is not None and c is not convergence]
    assert len(failed) == sum(1 for f in r.findings if f.severity >= Severity.ERROR) == 6
    # classname = rule id, name = the object
    assert sorted((c.get("classname"), c.get("name")) for c in by_finding) == sorted((f.rule, str(f.object))
                                                                                    for f in r.findings)
    clean = {c.get("classname") for c in cases if c.get("name") == "no findings"}
    assert clean == {run.rule for run in r.runs if run.ran and run.findings == 0}
    assert int(suite.get("tests", "-1")) == len(cases) and int(suite.get("failures", "-1")) == 7
    # below --fail-on: a passing testcase that still says what it found
    warn = next(c for c in by_finding if c.get("classname") == "service-capacity-dropped")
    assert warn.find("failure") is None and "ready endpoints dropped from 4 to 2" in (warn.findtext("system-out") or "")
    # evidence in the failure body: the missing Pods with IPs and nodes
    body = next(c for c in failed if c.get("name") == "Service payments/fraud-check").findtext("failure") or ""
    for text in ("fraud-check-tdg7s7smwr-sptmb", "10.0.84.43", "ip-10-0-3-14.eu-west-1.compute.internal",
                 "How to fix:"):
        assert text in body


@pytest.mark.parametrize("converged,expect", [(True, None), (False, "failure"), (None, "error")])
def test_junit_says_whether_the_cluster_converged(converged: bool | None, expect: str | None) -> None:
    """A compare that exits 1 or 3 on convergence alone never looks all green in a CI's test view."""
    r = replace(D.demo_compare(), converged=converged)
    _, cases = _cases(junit_report.render_junit(r))
    [case] = [c for c in cases if c.get("classname") == "convergence"]
    assert [child.tag for child in case if child.tag in ("failure", "error")] == ([expect] if expect else [])
    audit = D.demo_audit()
    assert not [c for c in _cases(junit_report.render_junit(audit))[1] if c.get("classname") == "convergence"]


def test_junit_skips_every_rule_that_did_not_run_with_its_reason() -> None:
    audit = D.demo_audit()
    r = F.result()
    suite, cases = _cases(junit_report.render_junit(r))
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [(c.get("classname"), c.find("skipped").get("message")) for c in skipped] == [  # type: ignore[union-attr]
        ("stale-endpoints", "did not run: the state has no Endpoints")]
    assert int(suite.get("skipped", "-1")) == 1
    assert suite.get("timestamp") == "2024-06-01T12:00:00"
    assert any(F.HOSTILE in (c.get("name") or "") for c in cases)
    assert "managed by our Terraform" in (suite.findtext("system-out") or "")  # suppressed, reported
    # a disabled rule and one without EKS data are skipped too; the reason comes from result.runs
    from auditor.model import NotRun, RuleRun
    runs = audit.runs + (RuleRun("nodegroup-version-skew", False, NotRun.NO_EKS_DATA, "no EKS data here"),)
    _, cases = _cases(junit_report.render_junit(replace(audit, runs=runs[:-2] + runs[-1:], notices=())))
    assert any(c.get("classname") == "nodegroup-version-skew" and c.find("skipped") is not None
               and c.find("skipped").get("message") == "did not run: no EKS data here" for c in cases)  # type: ignore[union-attr]


def test_junit_a_crashed_rule_is_an_error_not_a_pass() -> None:
    from auditor.model import Finding, ObjectRef, RuleRun
    crash = Finding(rule="internal-error", severity=Severity.ERROR,
                    object=ObjectRef("Cluster", "", "stale-endpointslice"),
                    message="rule stale-endpointslice crashed: KeyError: 'x'", evidence={"rule": "stale-endpointslice"})
    r = F.result(findings=(crash,), runs=(RuleRun("stale-endpointslice", True, findings=0),))
    suite, cases = _cases(junit_report.render_junit(r))
    mine = [c for c in cases if c.get("classname") == "stale-endpointslice"]
    assert len(mine) == 1 and mine[0].find("error") is not None and suite.get("errors") == "1"


def test_junit_never_fails_with_fail_on_never_and_strips_control_characters() -> None:
    r = F.result(fail_on=None)
    xml = junit_report.render_junit(r)
    assert "<failure" not in xml
    bad = F.result(findings=(F.FINDINGS[0].__class__(rule="stale-endpointslice", severity=Severity.ERROR,
                                                      object=F.FINDINGS[0].object, message="bell\x07 nul\x00"),))
    ET.fromstring(junit_report.render_junit(bad))  # parses


# --- HTML, without a browser -----------------------------------------------------------------------

def test_html_escapes_every_cluster_value_and_allows_only_its_own_scripts() -> None:
    html = html_report.render_html(F.result())
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<script>") == 1  # ours: the table code
    assert html.count("<script") == 2 and html.count('<script type="application/json" id="findings-data">') == 1
    assert "</script><script>alert(2)" not in html
    assert "innerHTML" not in html and "insertAdjacentHTML" not in html and "document.write" not in html
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    assert "default-src 'none'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no network resources"


def test_html_sections_present() -> None:
    html = html_report.render_html(F.result())
    for anchor in ("notices", "counts", "rotation", "eks", "findings", "rules", "suppressed"):
        assert f'id="{anchor}"' in html
    assert "<svg" in html and "not converged" in html
    assert html.index('id="notices"') < html.index('id="findings"')
    assert "managed by our Terraform, reviewed 2024-05" in html  # suppression reason
    assert "eks:DescribeInsight" in html and "v1.18.3-eksbuild.2" in html and "Deprecated API usage" in html


def test_html_chart_puts_not_converged_services_first() -> None:
    html = html_report.render_html(F.result())
    svg = html[html.index("<svg"):html.index("</svg>")]
    labels = re.findall(r'<text class="label[^"]*"[^>]*>([^<]+)</text>', svg)
    assert labels[0] == "shop/checkout" and labels[-1] == "shop/cart"


# --- terminal ---------------------------------------------------------------------------------------

class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_plain_when_not_a_tty_and_aligned() -> None:
    text = summary(F.result(), [Path("out/report.html")], stream=io.StringIO(), urls=["https://b.s3/x"], width=160)
    assert "\x1b[" not in text
    rows = [line for line in text.splitlines() if re.match(r"  (error|warning|info)\b", line)]
    assert len(rows) == len(F.FINDINGS)
    assert len({line.find(line.split()[1]) for line in rows}) == 1  # rule column aligned
    assert len({line.find(line.split()[2]) for line in rows}) == 1  # object column aligned
    assert "out/report.html" in text and "https://b.s3/x" in text
    assert "payments/<img src=x onerror=" in text  # terminals show text as text


def test_terminal_colour_only_on_a_tty_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    assert "\x1b[31" in summary(F.result(), [], stream=_Tty())
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in summary(F.result(), [], stream=_Tty())


def test_terminal_force_color_colours_a_ci_log(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert "\x1b[31" in summary(F.result(), [], stream=io.StringIO())
    monkeypatch.setenv("NO_COLOR", "1")  # FORCE_COLOR wins, as in Node
    assert "\x1b[31" in summary(F.result(), [], stream=io.StringIO())
    monkeypatch.setenv("FORCE_COLOR", "0")
    assert "\x1b[" not in summary(F.result(), [], stream=_Tty())


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize("columns", [80, 100, 160, 50])
def test_terminal_fits_the_width(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setenv("FORCE_COLOR", "1")
    for r in (D.demo_compare(), F.result(), F.big_result(100)):
        text = summary(r, [], stream=_Tty())
        lines = [_ANSI.sub("", line) for line in text.splitlines()]
        assert max(len(line) for line in lines) <= columns, [line for line in lines if len(line) > columns]
        rows = [line for line in lines if re.match(r"  (error|warning|info) ", line)]
        assert rows
        if columns >= 100:  # wide enough: one row per finding, the message on it
            assert len(rows) == min(10, len(r.findings))
    wide = summary(D.demo_compare(), [], stream=io.StringIO(), width=160)
    assert "2 ready Pods missing from the Service's EndpointSlices" in wide  # whole at 160


def test_terminal_pipe_width_without_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    text = summary(D.demo_compare(), [], stream=io.StringIO())
    assert max(len(line) for line in text.splitlines()) <= 120


def test_terminal_quiet_and_verbose() -> None:
    r = F.result()
    quiet = summary(r, [Path("out/report.html")], stream=io.StringIO(), quiet=True)
    assert quiet == ("FAIL  compare (findings at or above error · not converged): 3 error, 3 warning, 1 info, "
                     "2 suppressed")
    normal = summary(r, [], stream=io.StringIO())
    assert "not run: 1 rule(s), -v says why: stale-endpoints" in normal
    assert "the state has no Endpoints" not in normal
    verbose = summary(r, [], stream=io.StringIO(), verbose=True)
    assert re.search(r"^  stale-endpoints  the state has no Endpoints$", verbose, re.M)


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
    r = F.result(rotation={"kind": "no change", "converged": True}, eks=F.eks_view_of({"clusterName": "c1"}),
                 converged=True)
    html = html_report.render_html(r)
    assert "Rotation: no change" in html and "EKS cluster c1" in html and "No Service" in html
    assert "Rotation: no change" in md_report.render_md(r)
    junit_report.render_junit(r)


def test_verify_verdict_is_the_gate_and_convergence() -> None:
    r = F.result(mode="verify", converged=True, findings=tuple(f for f in F.FINDINGS if f.severity < Severity.ERROR))
    assert r.passed
    assert not F.result(mode="verify", converged=True).passed  # error findings fail verify like any command
    detail = "no finding at or above error · converged"
    assert f"**PASS** ({detail})" in md_report.render_md(r).splitlines()[1]
    assert f"PASS: {detail}" in html_report.render_html(r)
    assert summary(r, [], stream=io.StringIO()).startswith(f"PASS  verify ({detail})")
    unknown = replace(r, converged=None)
    assert summary(unknown, [], stream=io.StringIO()).startswith("UNKNOWN  verify (no finding at or above error · "
                                                                  "convergence unknown)")


# --- writing the set -------------------------------------------------------------------------------

def test_reports_are_written_as_a_set_even_when_the_disk_fills(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    out = tmp_path / "out"
    formats = ("html", "md", "json", "junit")
    render.write_reports(F.empty_result(), out, formats)
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    real_fdopen = os.fdopen
    opened = []

    class _Full:
        def __init__(self, fh: object) -> None:
            self.fh = fh

        def __enter__(self) -> _Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.fh.close()  # type: ignore[attr-defined]

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    def fdopen(fd: int, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        fh = real_fdopen(fd, *args, **kwargs)  # type: ignore[arg-type]
        opened.append(fd)
        return _Full(fh) if len(opened) == 3 else fh  # the third file finds the disk full

    monkeypatch.setattr(os, "fdopen", fdopen)
    with pytest.raises(ConfigError, match=r"report\.json: cannot write report \(No space left on device\); "
                                          r"the reports already there are unchanged"):
        render.write_reports(F.result(), out, formats)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old  # the old set, no temporary left
    monkeypatch.setattr(os, "fdopen", real_fdopen)
    render.write_reports(F.result(), out, formats)
    assert sorted(p.name for p in out.iterdir()) == sorted(old)
    assert all(p.read_bytes() != old[p.name] for p in out.iterdir())  # all new


def test_a_failed_rename_puts_the_old_files_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    render.write_reports(F.empty_result(), out, ("html", "md", "json"))
    old = {p.name: p.read_bytes() for p in out.iterdir()}
    real_replace = os.replace
    calls = []

    def replace_(src: str, dst: object) -> None:
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace_)
    with pytest.raises(ConfigError):
        render.write_reports(F.result(), out, ("html", "md", "json"))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == old


def test_report_files_honour_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        paths = render.write_reports(F.empty_result(), tmp_path / "out", ("json",))
    finally:
        os.umask(old)
    assert paths[0].stat().st_mode & 0o777 == 0o600


# --- evidence and fixes in the HTML (static) ---------------------------------------------------------

def test_html_shows_evidence_and_fixes_collapsed_under_each_finding() -> None:
    html = html_report.render_html(D.demo_compare())
    row = html[html.index('<tr data-sev="error" data-rule="stale-endpointslice" data-ns="payments"'):]
    row = row[:row.index("</td></tr>\n")]
    assert '<details class="ev"><summary>Evidence and fix</summary>' in row
    for text in ("fraud-check-tdg7s7smwr-sptmb", "10.0.84.43", "ip-10-0-3-14.eu-west-1.compute.internal"):
        assert text in row
    capped = html_report.render_html(F.result())
    assert "endpoints (50)" in capped and "and 30 more (all of them in report.json)" in capped
    assert "cart-7d9f-019" in capped and "cart-7d9f-020" not in capped
    assert '<pre class="fix"' in capped and "kubectl -n shop delete endpointslice cart-x8k2p" in capped
    assert "&lt;/details&gt;&lt;details open&gt;" in capped  # evidence text stays text


def test_html_per_service_view_collects_slices_endpoints_and_ready_counts() -> None:
    html = html_report.render_html(D.demo_compare())
    sec = html[html.index('<section id="services">'):html.index("</section>", html.index('<section id="services">'))]
    rec = sec[sec.index("<b>shop/recommendations</b>"):]
    rec = rec[:rec.index("</details>\n<details") if "</details>\n<details" in rec else len(rec)]
    assert "ready endpoints 2 → 2" in rec and "recommendations-pfg9g" in rec
    assert rec.count('class="fi"') == 3
    idx = sec.index("<b>search/query-api</b>")
    assert "ready endpoints 2 → 0" in sec[idx:idx + 300]


def test_evidence_blocks_render_any_shape() -> None:
    from auditor.report import evidence

    blocks = evidence.blocks({"readyBefore": 2, "podsNotReady": ["a", "b"], "service": {"namespace": "x", "name": "y"},
                              "endpoints": [{"node": "n1", "address": "10.0.0.1", "extra": [1, 2]}], "empty": []})
    assert [b.kind for b in blocks] == ["facts", "list", "table"]
    assert blocks[0].facts == (("ready before", "2"), ("service namespace", "x"), ("service name", "y"))
    assert blocks[2].columns == ("address", "node", "extra") and blocks[2].rows == (("10.0.0.1", "n1", "1, 2"),)
    text = evidence.as_text({"endpoints": [{"address": f"10.0.0.{i}"} for i in range(25)]})
    assert text[-1].strip() == "and 5 more (all of them in report.json)"


def test_markdown_service_groups_show_how_traffic_reaches_them_escaped() -> None:
    hostile = "@octo-org/team [x](http://evil.example)"
    traffic = {"services": [{"namespace": "shop", "name": "cart", "userFacing": True, "entries": [
        {"kind": "Ingress", "namespace": "shop", "name": "storefront", "port": "80", "routes": [f"{hostile}/cart"],
         "routeCount": 1, "loadBalancer": "ALB", "targetType": "ip", "scheme": "internet-facing"}]}]}
    md = md_report.render_md(F.result(traffic=traffic))
    line = next(x for x in md.splitlines() if "↳" in x)
    assert line.startswith("   - ↳ Ingress shop/storefront: ")
    assert line.endswith("→ port 80 · ALB · IP targets · internet-facing")
    assert "@octo" not in line and "@\u2060octo" in line and "\\[x\\](http\\://" in line  # no mention, no link
    assert "**Service shop/cart**: 1 error · ready endpoints 4 → 4 · user-facing" in md


def test_markdown_gives_each_fix_block_once_and_lists_info_findings_compactly() -> None:
    many = tuple(Finding("service-single-zone", Severity.INFO, ObjectRef("Service", "shop", f"svc-{i:02d}"),
                         "all ready endpoints are in eu-west-1a", evidence={"zones": ["eu-west-1a"]},
                         fix=(f"kubectl -n shop get pods -l app=svc-{i:02d} -o wide",)) for i in range(75))
    r = F.result(findings=tuple(sorted(F.FINDINGS + many, key=lambda f: f.sort_key)))
    md = md_report.render_md(r)
    blocks = re.findall(r"`{3,}sh\n(.*?)\n\s*`{3,}", md, re.S)
    bodies = [tuple(line.strip() for line in b.splitlines()) for b in blocks]
    assert bodies and len(bodies) == len(set(bodies))  # no set of commands twice
    assert md.count("kubectl -n shop get endpointslice cart-x8k2p -o yaml") == 1
    assert "Commands: the same as above (What to do first)." in md
    assert md.count("svc-") == md_report.MD_INFO_ROWS and "and 55 more info findings of this rule" in md
    assert "evidence and fix</summary>" not in md.split("service-single-zone")[-1]
