"""Isolation beyond a refused connection: a slow cluster is ended by --request-timeout while the others finish
first, and a worker process that dies without a result is its cluster's entry, not the end of the fleet."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from click.testing import Result

from auditor.app import fleet as fleet_app
from auditor.collect.options import ClusterOptions
from auditor.report.fleet import ClusterEntry
from auditor.settings import ReportSettings
from tests.fleet.conftest import Fleet


def test_a_slow_cluster_is_bounded_and_never_holds_the_others(fleet: Fleet, cli: Callable[..., Result],
                                                              tmp_path: Path) -> None:
    fleet.doubles["denied"].add_fault(r"^/version", delay=30.0, times=None)  # answers nothing for 30 s
    start = time.monotonic()
    res = cli("fleet", "audit", "--kubeconfig", fleet.kubeconfig, "--context", "denied", "--context", "good",
              "--context", "bad", "--parallel", "2", "--no-eks", "--request-timeout", "1", "--output-dir",
              tmp_path / "out")
    assert time.monotonic() - start < 25
    assert res.exit_code == 3, res.output
    done = [line.split(": ", 1)[1] for line in res.stderr.splitlines() if " done: " in line]
    assert done[-1] == "denied (unreachable)" and set(done[:2]) == {"good (pass)", "bad (fail)"}
    by = {c["name"]: c for c in json.loads((tmp_path / "out" / "fleet.json").read_text())["clusters"]}
    assert by["good"]["verdict"] == "pass" and by["bad"]["verdict"] == "fail"


def test_a_worker_that_dies_is_its_clusters_entry(fleet: Fleet, tmp_path: Path) -> None:
    settings = fleet_app.FleetAuditSettings(
        contexts=("good", "bad"), all_contexts=False, cluster=ClusterOptions(kubeconfig=str(fleet.kubeconfig)),
        report=ReportSettings(output_dir=tmp_path / "out"), eks=False)
    good = fleet_app._job(settings, "good", tmp_path / "out", "good")
    # the worker cannot even enter its folder: it fails before it can send anything back
    doomed = replace(fleet_app._job(settings, "bad", tmp_path / "out", "bad"), cwd=str(tmp_path / "gone"))
    done: list[ClusterEntry] = []
    fleet_app.run_jobs([doomed, good], 2, done.append)
    by = {e.name: e for e in done}
    assert by["good"].verdict == "pass"
    assert by["bad"].verdict == "incomplete" and by["bad"].exit == 3
    assert "ended without a result (exit code 1)" in (by["bad"].error or "")
