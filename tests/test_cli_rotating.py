"""`audit --rotating` (and `rotating:` in the config) as a user meets it: exit codes, one-line errors, the plan."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import builders as b
import pytest
from click.testing import CliRunner

from auditor.app.audit import audit_state
from auditor.app.inputs import load_states, with_options
from auditor.cli.main import main
from auditor.settings import Config, ReportSettings

T = b.at("2026-11-20T10:00:00Z")
K130, K131 = "v1.30.4-eks-a737599", "v1.31.2-eks-7f9249a"


def cluster() -> list[dict]:
    """ng-blue (1.30) holds both Pods of shop/catalog, whose PDB allows no disruption; ng-green (1.31) is empty."""
    blue = [b.node(f"ip-10-0-{i}-17.eu-west-1.compute.internal", T - timedelta(days=9), zone=f"eu-west-1{z}",
                   kubelet=K130, nodegroup="ng-blue", ip=f"10.0.{i}.17") for i, z in ((1, "a"), (2, "b"))]
    green = [b.node("ip-10-0-1-40.eu-west-1.compute.internal", T - timedelta(days=1), zone="eu-west-1a",
                    kubelet=K131, nodegroup="ng-green", ip="10.0.1.40")]
    nodes = {n["metadata"]["name"]: n for n in blue + green}
    svc = b.service("catalog", "shop", T - timedelta(days=30), selector={"app": "catalog"})
    dep, rs = b.deployment("catalog", "shop", T - timedelta(days=30), replicas=2, labels={"app": "catalog"})
    pods = [b.with_probe(b.replicaset_pod("catalog", "shop", i, T - timedelta(days=2), labels={"app": "catalog"},
                                          node_name=blue[i]["metadata"]["name"], ips=[f"10.0.{i + 1}.111"]))
            for i in range(2)]
    pdb = b.pdb("catalog", "shop", T - timedelta(days=10), selector={"app": "catalog"}, min_available=2,
                expected=2, healthy=2, desired=2, allowed=0)
    return [b.namespace("shop", T - timedelta(days=90)), *nodes.values(), svc, dep, rs, *pods, pdb,
            *b.controller_slices(svc, pods, nodes, T - timedelta(days=1)),
            b.endpoints_object(svc, pods, nodes, T - timedelta(days=1))]


@pytest.fixture()
def state(tmp_path: Path) -> Path:
    p = tmp_path / "state.json"
    p.write_text(json.dumps(b.kubectl_list(cluster())))
    return p


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


def findings(out: Path) -> dict[str, list[str]]:
    report = json.loads((out / "report.json").read_text())
    got: dict[str, list[str]] = {}
    for f in report["findings"]:
        got.setdefault(f["rule"], []).append(f"{f['object']['namespace']}/{f['object']['name']}")
    return got


def test_rotating_names_the_group_and_the_drain_risk_fails_the_gate(tmp_path: Path, state: Path) -> None:
    out = tmp_path / "r"
    code, stdout, _ = invoke("audit", str(state), "--rotating", "ng-blue", "--output-dir", str(out),
                             "--format", "json")
    assert code == 1, stdout  # pdb-blocks-drain is an error
    assert findings(out)["pdb-blocks-drain"] == ["shop/catalog"]
    report = json.loads((out / "report.json").read_text())
    assert "endpoints-without-readiness-probe" not in findings(out)  # the Pods declare one
    runs = {r["rule"]: r for r in report["ruleRuns"]}
    assert runs["pdb-blocks-drain"] == {"rule": "pdb-blocks-drain", "ran": True, "findings": 1}
    assert runs["service-single-zone"]["ran"] and runs["service-rotation-unprotected"]["ran"]
    # the group that does not hold the Pods: nothing at risk, exit 0
    code, stdout, _ = invoke("audit", str(state), "--rotating", "ng-green", "--output-dir", str(out),
                             "--format", "json")
    assert code == 0, stdout
    assert "pdb-blocks-drain" not in findings(out)
    # comma list and repeated flags are the same
    code, _, _ = invoke("audit", str(state), "--rotating", "ng-green,ng-blue", "--output-dir", str(out),
                        "--format", "json", "--fail-on", "never")
    assert code == 0 and findings(out)["pdb-blocks-drain"] == ["shop/catalog"]


def test_without_target_or_rotating_the_rotation_rules_do_not_run(tmp_path: Path, state: Path) -> None:
    out = tmp_path / "r"
    code, stdout, _ = invoke("audit", str(state), "--output-dir", str(out), "--format", "json", "-v")
    assert code == 0, stdout
    assert "no rotation plan: pass --target-version or --rotating" in stdout
    runs = {r["rule"]: r for r in json.loads((out / "report.json").read_text())["ruleRuns"]}
    assert runs["pdb-blocks-drain"]["ran"] is False
    assert runs["pdb-blocks-drain"]["detail"] == "no rotation plan: pass --target-version or --rotating"
    assert runs["service-single-zone"]["ran"] is True  # needs no plan
    # the target version alone plans ng-blue (kubelet 1.30 below 1.31)
    code, _, _ = invoke("audit", str(state), "--target-version", "1.31", "--output-dir", str(out),
                        "--format", "json")
    assert code == 1 and findings(out)["pdb-blocks-drain"] == ["shop/catalog"]


def test_an_unknown_group_is_a_usage_error_in_one_line(tmp_path: Path, state: Path) -> None:
    code, stdout, stderr = invoke("audit", str(state), "--rotating", "ng-purple", "--output-dir",
                                  str(tmp_path / "r"))
    assert code == 2
    assert stderr.strip().count("\n") == 0
    assert stderr.startswith("error: --rotating: 'ng-purple' is not a node group of this state")
    assert "known groups: ng-blue, ng-green" in stderr
    assert not (tmp_path / "r").exists()  # refused before any rule ran or report was written
    code, _, stderr = invoke("audit", str(state), "--rotating", "karpenter:", "--output-dir", str(tmp_path / "r"))
    assert code == 2 and stderr.startswith("error: --rotating: 'karpenter:' is not a node group name")


def test_rotating_in_the_config_file(tmp_path: Path, state: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("rotating: [ng-blue]\n")
    out = tmp_path / "r"
    code, _, _ = invoke("audit", str(state), "--config", str(cfg), "--output-dir", str(out), "--format", "json")
    assert code == 1 and findings(out)["pdb-blocks-drain"] == ["shop/catalog"]
    # the flag replaces the config's list
    code, _, _ = invoke("audit", str(state), "--config", str(cfg), "--rotating", "ng-green", "--output-dir",
                        str(out), "--format", "json")
    assert code == 0
    cfg.write_text("rotating: [ng-purple]\n")
    code, _, stderr = invoke("audit", str(state), "--config", str(cfg), "--output-dir", str(out))
    assert code == 2 and stderr.startswith(f"error: {cfg}: rotating: 'ng-purple' is not a node group")
    cfg.write_text("rotating: {ng-blue: true}\n")
    code, _, stderr = invoke("audit", str(state), "--config", str(cfg), "--output-dir", str(out))
    assert code == 2 and "rotating must be a list" in stderr


def test_compare_accepts_rotating_and_checks_it_against_before(tmp_path: Path, state: Path) -> None:
    code, _, stderr = invoke("compare", str(state), str(state), "--rotating", "ng-purple", "--allow-reversed",
                             "--output-dir", str(tmp_path / "r"))
    assert code == 2 and "'ng-purple' is not a node group" in stderr


def test_the_result_carries_the_plan(tmp_path: Path, state: Path) -> None:
    report = ReportSettings(output_dir=tmp_path / "r", formats=("json",))
    st = load_states([state])
    result = audit_state(st, with_options(Config(), None, ("ng-blue",)), report, mode="audit")
    assert result.plan is not None
    assert result.plan["how"] == "--rotating ng-blue" and result.plan["decided"] is True
    assert [(g["kind"], g["name"], len(g["nodes"]), g["reason"]) for g in result.plan["groups"]] == [
        ("eks-nodegroup", "ng-blue", 2, "--rotating ng-blue")]
    empty = audit_state(st, Config(), report, mode="audit")
    assert empty.plan is not None and empty.plan["decided"] is False and empty.plan["groups"] == []
