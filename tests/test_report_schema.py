"""report.json has a JSON Schema in the repo (schemas/report.schema.json); every report the engine writes fits it."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from auditor.cli.main import main

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "report.schema.json").read_text())


def validate(report: dict) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(report)


@pytest.fixture(scope="module")
def demo_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("demo")
    r = CliRunner().invoke(main, ["demo", "--output-dir", str(out)])
    assert r.exit_code == 0, r.output
    return {m: json.loads((out / m / "report.json").read_text()) for m in ("preflight", "audit", "compare")}


@pytest.mark.parametrize("mode", ["preflight", "audit", "compare"])
def test_demo_reports_fit_the_schema(demo_reports: dict[str, dict], mode: str) -> None:
    report = demo_reports[mode]
    validate(report)
    assert report["findings"] and all(f["fix"] for f in report["findings"] if f["rule"] != "incomplete-snapshot")
    runs = {r["rule"]: r for r in report["ruleRuns"]}
    assert all(not r["ran"] or "findings" in r for r in runs.values())


def test_the_schema_rejects_what_the_contract_forbids(demo_reports: dict[str, dict]) -> None:
    bad = json.loads(json.dumps(demo_reports["audit"]))
    bad["findings"][0]["severity"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = json.loads(json.dumps(demo_reports["audit"]))
    del bad["findings"][0]["fingerprint"]
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def test_a_report_without_eks_data_marks_eks_rules_not_run(tmp_path: Path) -> None:
    import builders as b
    from test_cli_audit import small_cluster

    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(b.kubectl_list(small_cluster())))
    r = CliRunner().invoke(main, ["audit", str(dump), "--output-dir", str(tmp_path / "r"), "--format", "json"])
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    validate(report)
    runs = {x["rule"]: x for x in report["ruleRuns"]}
    for rule in ("nodegroup-version-skew", "nodegroup-not-active", "addon-version-incompatible",
                 "upgrade-insight-failing"):
        assert runs[rule]["ran"] is False and runs[rule]["reason"] == "no-eks-data"
    assert runs["stale-endpointslice"]["ran"] is True


def test_the_demo_predicts_the_loss_its_compare_confirms(demo_reports: dict[str, dict]) -> None:
    """The pre-flight blast radius names search/query-api, and the compare's service-lost-endpoints finding for it
    links the pre-rotation risk. Only the load balancer controller's webhook Service ranks above it: both its
    replicas rotate unprotected and, while they are gone, no replacement Pod can be created."""
    blast = demo_reports["preflight"]["blastRadius"]
    [group] = [g for g in blast["groups"] if g["label"] == "ng-blue"]
    first, top = group["services"][:2]
    assert (first["namespace"], first["name"]) == ("kube-system", "aws-load-balancer-webhook-service")
    assert {r["rule"] for r in first["risks"]} == {"service-rotation-unprotected", "webhook-backend-at-risk"}
    assert (top["namespace"], top["name"], top["risk"]) == ("search", "query-api", "error")
    assert any("create poddisruptionbudget query-api-pdb" in c for c in top["fix"])
    assert demo_reports["preflight"]["plan"]["how"] == "--rotating ng-blue"
    [lost] = [f for f in demo_reports["compare"]["findings"] if f["rule"] == "service-lost-endpoints"]
    assert lost["object"]["name"] == "query-api"
    assert {p["rule"] for p in lost["evidence"]["predicted"]} >= {"service-rotation-unprotected"}
    assert "predicted before the rotation" in lost["message"]
