"""The GitHub Actions fleet recipe (docs/fleet-github-actions.yml): a matrix of one job per cluster that never
cancels the others, and a final job that runs whether they failed or not; the audit step's and the fleet step's
own commands, run under moto S3 on the demo state, produce the fleet report of the uploaded clusters."""
from __future__ import annotations

import json
import os
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from click.testing import Result
from moto import mock_aws

RECIPE = Path(__file__).resolve().parents[2] / "docs" / "fleet-github-actions.yml"
DEMO = Path(__file__).resolve().parents[2] / "auditor" / "demo"


def recipe() -> dict[str, Any]:
    return yaml.safe_load(RECIPE.read_text())


def commands(step: dict[str, Any], env: dict[str, str]) -> list[list[str]]:
    """The step's `upgrade-auditor` commands as the shell would run them (before any `;` or `||`)."""
    out = []
    for line in step["run"].splitlines():
        first = line.split(" ; ")[0].split(" || ")[0].strip()
        if not first.startswith("upgrade-auditor "):
            continue
        for k, v in env.items():  # ${VAR:+...} first: it adds its words only when VAR is set
            if f"${{{k}:+" in first:
                start = first.index(f"${{{k}:+")
                end = first.index("}", start)
                first = first[:start] + (first[start + len(k) + 4:end] if v else "") + first[end + 1:]
        words = shlex.split(first.replace("$", "\0"))
        for k, v in sorted(env.items(), key=lambda kv: -len(kv[0])):
            words = [w.replace(f"\0{k}", v) for w in words]
        assert not any("\0" in w for w in words), f"unset variable in {first!r}"
        out.append(words[1:])
    return out


def step(job: dict[str, Any], name_part: str) -> dict[str, Any]:
    return next(s for s in job["steps"] if name_part in s.get("name", ""))


def test_matrix_never_cancels_and_the_fleet_job_always_runs() -> None:
    jobs = recipe()["jobs"]
    assert jobs["audit"]["strategy"]["fail-fast"] is False
    assert "fromJSON(vars.FLEET_CLUSTERS)" in jobs["audit"]["strategy"]["matrix"]["cluster"]
    assert jobs["fleet"]["needs"] == "audit" and jobs["fleet"]["if"] == "always()"
    assert "pip install --quiet ." in step(jobs["audit"], "Install")["run"]


def test_audit_and_fleet_steps_run_as_written(cli: Callable[..., Result], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(k, v)
    jobs = recipe()["jobs"]
    prefix = "s3://fleet-bucket/fleet/42"
    monkeypatch.chdir(tmp_path)
    with mock_aws():
        boto3.client("s3", region_name="eu-west-1").create_bucket(
            Bucket="fleet-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for cluster, state in (("shop-prod", "after.json.gz"), ("shop-dev", "before.json.gz")):
            work = tmp_path / cluster
            work.mkdir()
            os.chdir(work)
            shutil.copy(DEMO / state, work / "snapshot.json.gz")  # what the snapshot step writes
            env = {"CLUSTER": cluster, "REGION": "eu-west-1", "PREFIX": prefix, "TARGET": ""}
            (audit,) = commands(step(jobs["audit"], "Audit and upload"), env)
            res = cli(*audit)
            assert res.exit_code in (0, 1), res.output
        os.chdir(tmp_path)
        (fleet,) = commands(step(jobs["fleet"], "One report"), {"PREFIX": prefix})
        res = cli(*fleet)
    doc = json.loads((tmp_path / "fleet" / "fleet.json").read_text())
    assert {c["name"] for c in doc["clusters"]} == {"shop-prod", "shop-dev"}
    assert res.exit_code == (1 if any(c["verdict"] != "pass" for c in doc["clusters"]) else 0)
    assert (tmp_path / "fleet" / "fleet.md").is_file() and (tmp_path / "fleet" / "fleet.html").is_file()
