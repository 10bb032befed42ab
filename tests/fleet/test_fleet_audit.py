"""`fleet audit` over several API doubles: each cluster isolated in its own process (a dead, a 500-answering and a
denying cluster change nothing for the others), the fleet report, exit codes, folders, progress."""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
from click.testing import Result

from auditor.app.fleet_cluster import eks_of, folder_names
from tests.fleet.conftest import ARN, Fleet

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fleet.schema.json").read_text())
ARN_FOLDER = "arn_aws_eks_eu-west-1_123456789012_cluster_prod-eu"


def fleet_json(folder: Path) -> dict:
    doc = json.loads((folder / "fleet.json").read_text())
    jsonschema.validate(doc, SCHEMA)
    return doc


def test_every_cluster_isolated_worst_first(fleet: Fleet, cli: Callable[..., Result], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(work))  # nothing may land in ~ either
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--all-contexts", "--parallel", "3", "--no-eks",
              "--output-dir", "out", "--request-timeout", "5")
    assert res.exit_code == 3, res.output  # some clusters could not be collected
    doc = fleet_json(work / "out")
    verdicts = {c["name"]: c["verdict"] for c in doc["clusters"]}
    assert verdicts == {"good": "pass", ARN: "pass", "bad": "fail", "denied": "incomplete", "dead": "unreachable",
                        "broken": "unreachable"}
    assert [c["verdict"] for c in doc["clusters"]] == ["unreachable"] * 2 + ["incomplete", "fail", "pass", "pass"]
    assert doc["summary"] == {"clusters": 6, "pass": 2, "fail": 1, "incomplete": 1, "unreachable": 2}
    assert doc["ready"] == sorted(["good", ARN])
    by = {c["name"]: c for c in doc["clusters"]}
    assert by["good"]["exit"] == 0 and by["bad"]["exit"] == 1 and by["dead"]["exit"] == 3
    assert by["denied"]["exit"] == 3 and "EndpointSlice" in by["denied"]["error"]
    assert "refused" in by["dead"]["error"].lower() and by["dead"]["report"] is None
    assert "500" in by["broken"]["error"]
    assert by["bad"]["summary"]["error"] >= 1 and by["good"]["summary"]["error"] == 0
    assert by["good"]["version"] == "1.33" and by["good"]["target"] is None
    assert doc["rules"]["service-missing-endpointslices"] == {"bad": 1}
    assert doc["rules"]["incomplete-snapshot"] == {"denied": 1}
    # each cluster's reports and snapshot in its own folder, the ARN's made safe; links relative to fleet.json
    assert by[ARN]["report"] == f"{ARN_FOLDER}/report.html"
    for name, folder in (("good", "good"), ("bad", "bad"), (ARN, ARN_FOLDER), ("denied", "denied")):
        assert (work / "out" / by[name]["report"]).is_file()
        assert {"report.html", "report.md", "report.json", "snapshot.json.gz"} <= {
            p.name for p in (work / "out" / folder).iterdir()}
    # the healthy clusters' reports are exactly what a lone audit of them says: the others changed nothing
    assert json.loads((work / "out" / "good" / "report.json").read_text())["findings"] == []
    # progress on stderr, one line per cluster; the summary on stdout
    done = [line for line in res.stderr.splitlines() if " done: " in line]
    assert [d.split(" ")[0] for d in done] == [f"{i}/6" for i in range(1, 7)]
    assert "good (pass)" in res.stderr and "dead (unreachable)" in res.stderr
    assert "ready for the next wave: " in res.stdout
    # nothing written outside the output folder
    assert sorted(p.name for p in work.iterdir()) == ["out"]


def test_exit_1_when_one_fails_and_0_when_all_pass(fleet: Fleet, cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "good", "--context", "bad",
              "--no-eks", "--output-dir", out)
    assert res.exit_code == 1, res.output
    assert [c["name"] for c in fleet_json(out)["clusters"]] == ["bad", "good"]
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "good", "--no-eks",
              "--output-dir", out, "--format", "json")
    assert res.exit_code == 0, res.output
    doc = fleet_json(out)
    assert doc["ready"] == ["good"] and doc["clusters"][0]["report"] == "good/report.json"


def test_unknown_context_lists_the_known_ones(fleet: Fleet, cli: Callable[..., Result], tmp_path: Path) -> None:
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "good", "--context", "nope",
              "--output-dir", tmp_path / "out")
    assert res.exit_code == 2
    assert "'nope'" in res.stderr and "good, bad, denied, broken" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args", [(), ("--all-contexts", "--context", "good")])
def test_contexts_or_all_contexts(fleet: Fleet, cli: Callable[..., Result], tmp_path: Path,
                                  args: tuple[str, ...]) -> None:
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, *args, "--output-dir", tmp_path / "out")
    assert res.exit_code == 2 and "--all-contexts" in res.stderr


def test_a_report_left_from_an_earlier_run_never_passes_for_this_one(fleet: Fleet, cli: Callable[..., Result],
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "dead").mkdir(parents=True)
    (out / "dead" / "report.json").write_text("{}")
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "dead", "--output-dir", out)
    assert res.exit_code == 3
    assert not (out / "dead" / "report.json").exists()


def test_folder_names_are_safe_and_distinct() -> None:
    names = folder_names([ARN, "a/b", "a:b", "..", "", "Prod", "prod", "x" * 300, "ok-1.2_3"])
    assert names[ARN] == ARN_FOLDER and names["ok-1.2_3"] == "ok-1.2_3"
    assert len({n.casefold() for n in names.values()}) == len(names)
    for n in names.values():
        assert n and not n.startswith(".") and "/" not in n and len(n) <= 120
    assert names["a/b"].startswith("a_b-") and names["a:b"].startswith("a_b-")


@pytest.mark.parametrize("context, expected", [
    (ARN, ("prod-eu", "eu-west-1")),
    ("arn:aws-cn:eks:cn-north-1:123456789012:cluster/c1", ("c1", "cn-north-1")),
    ("arn:aws:eks:eu-west-1:123456789012:nodegroup/prod/ng", None),
    ("prod-eu", None),
    ("arn:aws:eks:eu-west-1:1234:cluster/prod", None),
])
def test_eks_cluster_from_an_arn_context(context: str, expected: tuple[str, str] | None) -> None:
    assert eks_of(context) == expected
