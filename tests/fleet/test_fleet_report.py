"""`fleet report` from folders: report.json files found recursively, named by their context or folder, linked
relatively; a broken report is its cluster's entry; exit codes 1 / 0 / 2."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
from click.testing import Result

from auditor.model import Severity
from auditor.report.fleet import ClusterEntry, entry_from_report, link, make_fleet, render_fleet_md, shown

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fleet.schema.json").read_text())


def report_json(context: str | None = None, *, errors: int = 0, warnings: int = 0, complete: bool = True,
                mode: str = "audit", version: str = "1.30", target: str | None = "1.31",
                known: int = 0, converged: bool | None = None) -> dict[str, Any]:
    findings = [{"rule": "stale-endpointslice", "severity": "error", "message": "m", "fingerprint": f"{i:x}",
                 "object": {"kind": "EndpointSlice", "namespace": "shop", "name": f"s{i}"}} for i in range(errors)]
    findings += [{"rule": "stale-endpoints", "severity": "warning", "message": "m", "fingerprint": f"f{i:x}",
                  "object": {"kind": "Endpoints", "namespace": "shop", "name": f"e{i}"}} for i in range(warnings)]
    for f in findings[:known]:
        f["baseline"] = "known"
    cluster: dict[str, Any] = {"controlPlane": {"version": version, "source": "apiserver"}}
    if context:
        cluster["context"] = context
    if target:
        cluster["targetVersion"] = target
    summary: dict[str, Any] = {"error": errors, "warning": warnings, "info": 0, "suppressed": 0}
    if converged is not None:
        summary["converged"] = converged
    return {"schemaVersion": 1, "tool": {"name": "eks-upgrade-auditor", "version": "0"}, "mode": mode,
            "inputs": [{"path": "s.json", "label": "", "takenAt": "2025-01-01T00:00:00Z", "complete": complete}],
            "summary": summary, "findings": findings, "suppressed": [], "cluster": cluster}


def put(folder: Path, doc: dict[str, Any] | str, html: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    if html:
        (folder / "report.html").write_text("<html></html>")
    return folder


def fleet_json(folder: Path) -> dict[str, Any]:
    doc = json.loads((folder / "fleet.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_folders_recursively_named_and_linked(cli: Callable[..., Result], tmp_path: Path) -> None:
    src = tmp_path / "reports"
    put(src / "eu" / "prod", report_json("arn:aws:eks:eu-west-1:123456789012:cluster/prod", errors=2))
    put(src / "eu" / "staging", report_json("in-cluster"))  # in-cluster: named by its folder
    put(src / "us" / "dev", report_json(None, warnings=3), html=False)
    put(src / "us" / ".hidden", report_json("hidden"))
    out = tmp_path / "fleet"
    res = cli("fleet", "report", src, "--output-dir", out)
    assert res.exit_code == 1, res.output
    doc = fleet_json(out)
    assert [(c["name"], c["verdict"], c["exit"]) for c in doc["clusters"]] == [
        ("arn:aws:eks:eu-west-1:123456789012:cluster/prod", "fail", 1), ("dev", "pass", 0), ("staging", "pass", 0)]
    by = {c["name"]: c for c in doc["clusters"]}
    assert by["staging"]["report"] == "../reports/eu/staging/report.html"
    assert by["dev"]["report"] == "../reports/us/dev/report.json"  # no report.html beside it
    assert by["dev"]["version"] == "1.30" and by["dev"]["target"] == "1.31"
    assert (out / by["staging"]["report"]).is_file()
    assert doc["rules"] == {"stale-endpointslice": {"arn:aws:eks:eu-west-1:123456789012:cluster/prod": 2},
                            "stale-endpoints": {"dev": 3}}
    assert sorted(p.name for p in out.iterdir()) == ["fleet.html", "fleet.json", "fleet.md"]


def test_all_pass_is_exit_0_and_fail_on_decides(cli: Callable[..., Result], tmp_path: Path) -> None:
    put(tmp_path / "r" / "a", report_json("a", warnings=1))
    assert cli("fleet", "report", tmp_path / "r", "--output-dir", tmp_path / "o").exit_code == 0
    assert cli("fleet", "report", tmp_path / "r", "--output-dir", tmp_path / "o", "--fail-on", "warning"
               ).exit_code == 1
    assert fleet_json(tmp_path / "o")["clusters"][0]["verdict"] == "fail"
    res = cli("fleet", "report", tmp_path / "r", "--output-dir", tmp_path / "o", "--fail-on", "bad")
    assert res.exit_code == 2 and "--fail-on" in res.stderr


def test_a_broken_report_is_its_clusters_entry_not_the_end(cli: Callable[..., Result], tmp_path: Path) -> None:
    put(tmp_path / "r" / "good", report_json("good"))
    put(tmp_path / "r" / "torn", '{"schemaVersion": 1, "findings": [')
    put(tmp_path / "r" / "other", json.dumps({"hello": 1}))
    res = cli("fleet", "report", tmp_path / "r", "--output-dir", tmp_path / "o")
    assert res.exit_code == 1
    by = {c["name"]: c for c in fleet_json(tmp_path / "o")["clusters"]}
    assert by["good"]["verdict"] == "pass"
    assert by["torn"]["verdict"] == "incomplete" and "not valid JSON" in by["torn"]["error"]
    assert by["other"]["verdict"] == "incomplete" and "not a report.json" in by["other"]["error"]


def test_missing_or_empty_source_is_exit_2(cli: Callable[..., Result], tmp_path: Path) -> None:
    put(tmp_path / "r" / "a", report_json("a"))
    res = cli("fleet", "report", tmp_path / "r", tmp_path / "nope", "--output-dir", tmp_path / "o")
    assert res.exit_code == 2 and "nope: no such file or folder" in res.stderr
    (tmp_path / "empty" / "x").mkdir(parents=True)
    res = cli("fleet", "report", tmp_path / "empty", "--output-dir", tmp_path / "o")
    assert res.exit_code == 2 and "holds no report.json" in res.stderr
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_same_context_twice_is_named_by_place(cli: Callable[..., Result], tmp_path: Path) -> None:
    put(tmp_path / "r" / "one", report_json("default"))
    put(tmp_path / "r" / "two", report_json("default"))
    put(tmp_path / "s" / "one", report_json("default"))
    assert cli("fleet", "report", tmp_path / "r", tmp_path / "s", "--output-dir", tmp_path / "o").exit_code == 0
    assert sorted(c["name"] for c in fleet_json(tmp_path / "o")["clusters"]) == ["r/one", "s/one", "two"]


def test_report_of_a_fleet_audit_folder_agrees_with_it(cli: Callable[..., Result], tmp_path: Path,
                                                      fleet: Any) -> None:
    out = tmp_path / "audit"
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "good", "--context", "bad",
              "--context", "denied", "--no-eks", "--output-dir", out)
    assert res.exit_code == 3
    audited = fleet_json(out)
    res = cli("fleet", "report", out, "--output-dir", out)
    assert res.exit_code == 1
    reported = fleet_json(out)
    keep = ("name", "verdict", "version", "target", "summary", "report")
    assert [{k: c[k] for k in keep} for c in reported["clusters"]] == [
        {k: c[k] for k in keep} for c in audited["clusters"]]
    assert reported["rules"] == audited["rules"]


def test_verdict_from_a_report() -> None:
    assert entry_from_report("x", report_json(errors=1, known=1), None, Severity.ERROR).verdict == "pass"
    assert entry_from_report("x", report_json(errors=2, known=1), None, Severity.ERROR).verdict == "fail"
    assert entry_from_report("x", report_json(errors=1), None, None).verdict == "pass"
    assert entry_from_report("x", report_json(complete=False), None, Severity.ERROR).verdict == "incomplete"
    verify = report_json(mode="verify", converged=False)
    assert entry_from_report("x", verify, None, Severity.ERROR).verdict == "fail"
    verify["summary"]["converged"] = True
    assert entry_from_report("x", verify, None, Severity.ERROR).verdict == "pass"


def test_links_never_become_schemes_and_text_is_shown() -> None:
    assert link("javascript:alert(1)/report.html") == "./javascript%3Aalert%281%29/report.html"
    assert link("https://b.s3.amazonaws.com/p/report.html") == "https://b.s3.amazonaws.com/p/report.html"
    assert link("http://evil/report.html", ) == "./http%3A//evil/report.html"
    assert shown("a\u202eb\u200bc\x1b") == "a\\u{202E}b\\u{200B}c\\u{001B}"
    md = render_fleet_md(make_fleet([ClusterEntry("[x](http://e) @team|<b>", "fail", 1,
                                                  error="boom\n| injected |")]))
    row = next(line for line in md.splitlines() if "**fail**" in line)
    assert "\\[x\\]" in row and "@\u2060team" in row and "&lt;b&gt;" not in row and "\\<b\\>" in row
    assert row.count(" | ") == 7 and "\\|" in row
