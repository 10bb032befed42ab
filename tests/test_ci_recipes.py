"""CI recipes (issue 11.6): the GitHub composite action's script run with a fake runner, the GitLab example checked."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import builders as b
import click
import yaml
from test_cli_audit import small_cluster, write

from auditor.cli.main import main
from auditor.report.render import FILE_NAMES

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "ci" / "github-action.sh"


def outputs(path: Path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT written with the name<<DELIMITER form."""
    out: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        name, _, delim = lines[i].partition("<<")
        j = lines.index(delim, i + 1)
        out[name] = "\n".join(lines[i + 1:j])
        i = j + 1
    return out


def action(tmp: Path, phase: str, **inputs: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str], str]:
    summary, gh_out = tmp / "step-summary.md", tmp / "github-output"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(gh_out), "NO_COLOR": "1",
           **{f"INPUT_{k.upper()}": v for k, v in inputs.items() if k != "exit_code"}}
    if "exit_code" in inputs:
        env["EXIT_CODE"] = inputs["exit_code"]
    r = subprocess.run(["bash", str(SCRIPT), phase], cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
    return r, outputs(gh_out), summary.read_text() if summary.exists() else ""


def test_action_yml_is_a_composite_action_around_the_script() -> None:
    doc = yaml.safe_load((ROOT / "action.yml").read_text())
    assert doc["runs"]["using"] == "composite"
    steps = doc["runs"]["steps"]
    runs = [s.get("run", "") for s in steps]
    for phase in ("install", "run", "gate"):
        assert any(f'"$GITHUB_ACTION_PATH/ci/github-action.sh" {phase}' in r for r in runs), phase
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "${{ inputs.output-dir }}"
    names = [s.get("id") or s.get("name") or s.get("uses") for s in steps]
    assert names.index("run") < steps.index(upload) < len(steps) - 1  # upload before the gate fails the step
    assert steps[-1]["env"]["EXIT_CODE"] == "${{ steps.run.outputs.exit-code }}"
    for key in ("command", "args", "baseline", "fail-on", "output-dir"):
        assert key in doc["inputs"]
    run_env = next(s for s in steps if s.get("id") == "run")["env"]
    assert {"INPUT_COMMAND", "INPUT_ARGS", "INPUT_BASELINE", "INPUT_FAIL_ON", "INPUT_OUTPUT_DIR"} <= set(run_env)


def test_failing_audit_fills_summary_outputs_and_fails_the_gate(tmp_path: Path) -> None:
    dump = write(tmp_path, "dump.json", b.kubectl_list(small_cluster()))
    r, out, summary = action(tmp_path, "run", command="audit", args=f"{dump} --target-version 1.31",
                             fail_on="warning")
    assert r.returncode == 0, r.stderr  # the run step never fails: the reports must still be uploaded
    # warnings: the hand-made slice, and cart's Pods without a readiness probe on a node 1.31 replaces
    assert out["exit-code"] == "1" and out["passed"] == "false" and out["warning"] == "2" and out["error"] == "0"
    assert out["report-dir"] == "upgrade-audit"
    report_md = (tmp_path / "upgrade-audit" / "report.md").read_text()
    assert summary == report_md and "eks-upgrade-auditor audit" in summary
    assert {p.name for p in (tmp_path / "upgrade-audit").iterdir()} == set(FILE_NAMES.values())
    gate, _, _ = action(tmp_path, "gate", exit_code=out["exit-code"])
    assert gate.returncode == 1 and "::error title=eks-upgrade-auditor::findings at or above" in gate.stdout


def test_passing_compare_with_quoted_args_and_baseline(tmp_path: Path) -> None:
    d = tmp_path / "my states"
    d.mkdir()
    dump = write(d, "state.json", b.kubectl_list(small_cluster()))
    r, out, _ = action(tmp_path, "run", command="audit", args=shlex.quote(str(dump)), output_dir="first")
    assert out["exit-code"] == "0", r.stdout + r.stderr
    r, out, summary = action(tmp_path, "run", command="compare", args=f"{shlex.quote(str(dump))} '{dump}'",
                             baseline="first/report.json", fail_on="warning", output_dir="second")
    assert out["exit-code"] == "0", r.stdout + r.stderr  # the one warning is known: it does not gate
    assert out["new"] == "0" and out["known"] == "1" and out["passed"] == "true"
    assert "**0 new**" in summary
    gate, _, _ = action(tmp_path, "gate", exit_code="0")
    assert gate.returncode == 0


def test_errors_are_reported_and_args_are_never_evaluated(tmp_path: Path) -> None:
    r, out, summary = action(tmp_path, "run", command="audit", args="'$(touch pwned)' `touch pwned2`")
    assert r.returncode == 0
    assert out["exit-code"] == "2" and out["passed"] == "false"
    assert "could not run (exit 2)" in summary
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert "no such file" in r.stderr
    gate, _, _ = action(tmp_path, "gate", exit_code="2")
    assert gate.returncode == 2 and "::error" in gate.stdout
    r, out, _ = action(tmp_path, "run", command="snapshot", args="-o x.json")
    assert out["exit-code"] == "2" and "command must be audit, compare or verify" in r.stdout


def test_gitlab_example_uses_junit_reports_and_valid_commands() -> None:
    doc = yaml.safe_load((ROOT / "docs" / "gitlab-ci.yml").read_text())
    junit = f"upgrade-audit/{FILE_NAMES['junit']}"
    jobs = {k: v for k, v in doc.items() if isinstance(v, dict) and ("script" in v or k.startswith("."))}
    assert doc[".upgrade-auditor"]["artifacts"]["reports"]["junit"] == junit
    assert doc[".upgrade-auditor"]["artifacts"]["when"] == "always"
    commands = []
    for name, job in jobs.items():
        arts = job.get("artifacts")
        if arts:
            assert arts["reports"]["junit"] == junit, name
        for line in job.get("script", []):
            if line.startswith("upgrade-auditor "):
                commands.append(line)
    assert {c.split()[1] for c in commands} == {"snapshot", "audit", "verify", "compare"}
    for line in commands:  # every flag in the example exists: click parses it without running it
        args = [os.path.expandvars(a) if not a.startswith("$") else "x" for a in shlex.split(line)[1:]]
        ctx = click.Context(main, info_name="upgrade-auditor")
        cmd = main.get_command(ctx, args[0])
        assert cmd is not None, line
        cmd.make_context(args[0], args[1:], parent=ctx)


def test_readme_shows_both_pipelines() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "uses: " in readme and "command: compare" in readme and "docs/gitlab-ci.yml" in readme
    assert "artifacts:" in readme and "junit: upgrade-audit/report.junit.xml" in readme
    json.dumps(readme)  # plain text
