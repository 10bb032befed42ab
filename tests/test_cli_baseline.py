"""Baselines (issue 11.2): known findings are reported apart and do not gate; new ones do; fixed are listed."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import builders as b
from click.testing import CliRunner
from test_cli_audit import T0, small_cluster, write

from auditor.cli.main import main


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def broken_cluster(*, extra_handmade: bool = False, fix_first: bool = False) -> list[dict]:
    """small_cluster plus hand-made slices the gate sees as errors (severity raised by the config)."""
    objs = small_cluster(handmade=not fix_first)
    if extra_handmade:
        objs.append({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
                     "metadata": b.meta("cart-manual-2", "shop", T0 - b.timedelta(days=1),
                                        labels={"kubernetes.io/service-name": "cart"}),
                     "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.9.8"]}]})
    return objs


def audit(tmp: Path, name: str, objs: list[dict], *extra: str) -> tuple[int, dict, str]:
    dump = write(tmp, f"{name}.json", b.kubectl_list(objs))
    out = tmp / name
    code, stdout, err = invoke("audit", str(dump), "--output-dir", str(out), "--format", "json,md,junit,html",
                               "--fail-on", "warning", *extra)
    assert code in (0, 1), err
    return code, json.loads((out / "report.json").read_text()), stdout


def test_known_findings_do_not_gate_new_ones_do_fixed_are_listed(tmp_path: Path) -> None:
    code, first, _ = audit(tmp_path, "first", broken_cluster())
    assert code == 1 and len(first["findings"]) == 1 and "new" not in first["summary"]
    baseline = tmp_path / "first" / "report.json"

    # same state with the baseline: the accepted hand-made slice is known, the gate passes
    code, again, stdout = audit(tmp_path, "again", broken_cluster(), "--baseline", str(baseline))
    assert code == 0, stdout
    assert again["summary"] == {"error": 0, "warning": 1, "info": 0, "suppressed": 0, "new": 0, "known": 1,
                                "fixed": 0}
    assert [f["baseline"] for f in again["findings"]] == ["known"]  # listed, never hidden
    assert again["findings"][0]["fingerprint"] == first["findings"][0]["fingerprint"]
    assert "baseline" in stdout and "0 new, 1 known" in stdout and "PASS" in stdout
    md = (tmp_path / "again" / "report.md").read_text()
    assert "**0 new**, 1 known" in md and "warning (known)" in md
    junit = ET.parse(tmp_path / "again" / "report.junit.xml").getroot()
    assert junit.get("failures") == "0"

    # a new hand-made slice fails the gate; the known one stays known
    code, grown, stdout = audit(tmp_path, "grown", broken_cluster(extra_handmade=True), "--baseline", str(baseline))
    assert code == 1
    assert grown["summary"]["new"] == 1 and grown["summary"]["known"] == 1
    status = {f["object"]["name"]: f["baseline"] for f in grown["findings"]}
    assert status == {"cart-manual": "known", "cart-manual-2": "new"}
    assert stdout.index("cart-manual-2") < stdout.index("cart-manual ")  # new findings first
    junit = ET.parse(tmp_path / "grown" / "report.junit.xml").getroot()
    assert junit.get("failures") == "1"

    # the accepted slice removed: fixed is listed
    code, fixed, _ = audit(tmp_path, "fixed", broken_cluster(fix_first=True), "--baseline", str(baseline))
    assert code == 0
    assert fixed["summary"] == {"error": 0, "warning": 0, "info": 0, "suppressed": 0, "new": 0, "known": 0,
                                "fixed": 1}
    assert [x["object"]["name"] for x in fixed["baseline"]["fixed"]] == ["cart-manual"]
    assert fixed["baseline"]["path"] == str(baseline)
    assert "Fixed since the baseline: 1" in (tmp_path / "fixed" / "report.md").read_text()
    from test_report_schema import validate
    for rep in (again, grown, fixed):
        validate(rep)
    assert "Fixed since the baseline (1)" in (tmp_path / "fixed" / "report.html").read_text()


def test_compare_with_baseline_gates_on_new_findings(tmp_path: Path) -> None:
    from importlib import resources
    demo = resources.files("auditor.demo")
    with resources.as_file(demo / "before.json.gz") as before, resources.as_file(demo / "after.json.gz") as after:
        code, _, _ = invoke("compare", str(before), str(after), "--output-dir", str(tmp_path / "a"), "--format", "json")
        assert code == 1
        base = tmp_path / "a" / "report.json"
        code, out, _ = invoke("compare", str(before), str(after), "--output-dir", str(tmp_path / "b"),
                              "--format", "json", "--baseline", str(base))
        assert code == 0, out
        rep = json.loads((tmp_path / "b" / "report.json").read_text())
        assert rep["summary"]["new"] == 0 and rep["summary"]["known"] == len(rep["findings"]) > 0
        # converged is a fact about the cluster: known reconvergence findings hold it back; the baseline that
        # accepted every error finding is what lets the gate pass
        assert rep["summary"]["converged"] is False


def test_bad_baseline_is_exit_2_naming_the_file(tmp_path: Path) -> None:
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    old = {"schemaVersion": 1, "findings": [{"rule": "x", "object": {}}]}
    cases = {
        "missing.json": (None, "no such file"),
        "garbage.json": ("{not json", "baseline is not valid JSON"),
        "snapshot.json": (json.dumps(b.kubectl_list(small_cluster())), "is not a report.json"),
        "old.json": (json.dumps(old), "findings[0] has no valid fingerprint"),
        "v2.json": (json.dumps({"schemaVersion": 2, "findings": []}), "schemaVersion 2"),
    }
    for name, (text, needle) in cases.items():
        p = tmp_path / name
        if text is not None:
            p.write_text(text)
        for cmd in (["audit", str(dump)], ["compare", str(dump), str(dump)],
                    ["verify", "--before", str(dump), "--timeout", "0"]):
            code, _, err = invoke(*cmd, "--baseline", str(p), "--output-dir", str(tmp_path / "r"))
            lines = err.strip().splitlines()
            assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: {p}: ") and needle in lines[0], \
                (cmd, err)
    assert not (tmp_path / "r").exists()
