"""Targets and order checked (issue 11.4): 1.N only, no downgrade, jumps warned, swapped compare refused."""
from __future__ import annotations

import json
from pathlib import Path

import builders as b
import pytest
import yaml
from click.testing import CliRunner
from test_cli_audit import small_cluster, write

from auditor.cli.main import main

TAKEN = b.at("2026-11-20T09:00:00Z")


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def snap(tmp: Path, name: str, *, taken=TAKEN, version: str = "v1.30.4-eks-a737599") -> Path:
    return write(tmp, name, b.snapshot_doc(small_cluster(handmade=False), taken, server_version=version))


@pytest.mark.parametrize("value", ["1.3", "banana", "1.31.2", "2.0", "v1", "1.x"])
def test_target_must_be_1_N(tmp_path: Path, value: str) -> None:
    p = snap(tmp_path, "s.json")
    code, _, err = invoke("audit", str(p), "--target-version", value, "--output-dir", str(tmp_path / "r"))
    assert code == 2 and err.startswith(f"error: --target-version: {value!r}") and "1.N" in err, err
    assert not (tmp_path / "r").exists()


def test_v_prefix_is_normalised(tmp_path: Path) -> None:
    p = snap(tmp_path, "s.json")
    code, _, err = invoke("audit", str(p), "--target-version", "v1.31", "--output-dir", str(tmp_path / "r"),
                          "--format", "json")
    assert code == 0, err
    assert json.loads((tmp_path / "r/report.json").read_text())["cluster"]["targetVersion"] == "1.31"


def test_target_below_the_control_plane_is_exit_2(tmp_path: Path) -> None:
    p = snap(tmp_path, "s.json")
    code, _, err = invoke("audit", str(p), "--target-version", "1.29", "--output-dir", str(tmp_path / "r"))
    assert code == 2 and not (tmp_path / "r").exists()
    assert err.strip().splitlines() == [
        "error: --target-version: 1.29 is below the control plane's version 1.30 (v1.30.4-eks-a737599, from the "
        "API server's /version): EKS cannot downgrade; give the version you are upgrading to (for example 1.31)"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"target-version": "1.28"}))
    code, _, err = invoke("audit", str(p), "--config", str(cfg), "--output-dir", str(tmp_path / "r"))
    assert code == 2 and err.startswith(f"error: {cfg}: target-version: 1.28 is below the control plane")
    # a kubectl dump has no /version: its newest kubelet (1.30) bounds the control plane from below
    dump = write(tmp_path, "d.json", b.kubectl_list(small_cluster()))
    code, _, err = invoke("audit", str(dump), "--target-version", "1.29", "--output-dir", str(tmp_path / "r"))
    assert code == 2 and "below the newest kubelet (1.30)" in err
    before, after = snap(tmp_path, "b.json", version="v1.29.8-eks-a737599"), snap(tmp_path, "a.json",
                                                                                 taken=TAKEN + b.timedelta(hours=1))
    code, _, err = invoke("compare", str(before), str(after), "--target-version", "1.29",
                          "--output-dir", str(tmp_path / "r"))
    assert code == 2 and "below the control plane's version 1.30" in err  # AFTER is already on 1.30


def test_target_jump_is_a_warning_finding(tmp_path: Path) -> None:
    p = snap(tmp_path, "s.json")
    code, out, err = invoke("audit", str(p), "--target-version", "1.33", "--output-dir", str(tmp_path / "r"),
                            "--format", "json")
    assert code == 0, err  # a warning: the gate (error) passes, --fail-on warning would not
    rep = json.loads((tmp_path / "r/report.json").read_text())
    jump = [f for f in rep["findings"] if f["rule"] == "target-version-jump"]
    assert len(jump) == 1 and jump[0]["severity"] == "warning"
    assert "target 1.33 is 3 minors above the control plane 1.30" in jump[0]["message"]
    assert jump[0]["evidence"]["steps"] == ["1.30", "1.31", "1.32", "1.33"]
    code, _, _ = invoke("audit", str(p), "--target-version", "1.33", "--fail-on", "warning",
                        "--output-dir", str(tmp_path / "r2"), "--format", "json")
    assert code == 1
    invoke("audit", str(p), "--target-version", "1.31", "--fail-on", "warning",
           "--output-dir", str(tmp_path / "r3"), "--format", "json")
    # the next minor is the normal case (the rotation rules may warn about the nodes 1.31 replaces)
    rep3 = json.loads((tmp_path / "r3/report.json").read_text())
    assert not [f for f in rep3["findings"] if f["rule"] == "target-version-jump"]


def test_swapped_compare_is_exit_2_unless_allowed(tmp_path: Path) -> None:
    older = snap(tmp_path, "before.json")
    newer = snap(tmp_path, "after.json", taken=TAKEN + b.timedelta(hours=2))
    out = tmp_path / "r"
    code, _, err = invoke("compare", str(newer), str(older), "--output-dir", str(out), "--format", "json")
    assert code == 2 and not out.exists()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "arguments look swapped" in lines[0] and "--allow-reversed" in lines[0]
    assert "2026-11-20T11:00:00Z" in lines[0] and str(newer) in lines[0]
    code, _, err = invoke("compare", str(newer), str(older), "--allow-reversed", "--output-dir", str(out),
                          "--format", "json")
    assert code == 0, err
    rep = json.loads((out / "report.json").read_text())
    assert any("are the arguments swapped" in n for n in rep["notices"])
    code, _, err = invoke("compare", str(older), str(newer), "--output-dir", str(tmp_path / "ok"), "--format", "json")
    assert code == 0, err


def test_rules_json_for_tooling() -> None:
    from auditor.rules import ALL_RULES, convergence_rules
    code, out, _ = invoke("rules", "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert [r["id"] for r in data] == [r.id for r in ALL_RULES]
    by_id = {r["id"]: r for r in data}
    assert {r["id"] for r in data if r["convergence"]} == convergence_rules()
    assert by_id["stale-endpointslice"]["convergence"] is True and by_id["stale-endpointslice"]["severity"] == "error"
    assert by_id["handmade-endpointslice"]["convergence"] is False
    assert by_id["target-version-jump"] == {**by_id["target-version-jump"], "severity": "warning", "family": "single"}
    assert all(set(r) >= {"id", "severity", "title", "convergence", "docs"} and r["title"] for r in data)
    lost = by_id["service-lost-endpoints"]
    assert lost["family"] == "pair" and "How to fix" in lost["docs"]
    code, _, err = invoke("rules", "--format", "yaml")
    assert code == 2 and "yaml" in err
