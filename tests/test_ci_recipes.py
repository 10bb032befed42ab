"""CI recipes: the GitHub composite action's script run with a fake runner (on the bundled demo states too), the
example GitHub workflow and GitLab jobs parsed, their commands checked against the CLI and run where they can be."""
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


def test_action_installs_from_its_own_checkout_unless_told_otherwise(tmp_path: Path) -> None:
    """The tool is not on PyPI: by default the install phase gives pip the action's folder (the repository of
    `uses: ./`); `version` replaces it. A fake python3 records what pip was asked for."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "pip-args"
    (fake / "python3").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(log))}\n')
    (fake / "upgrade-auditor").write_text("#!/bin/sh\necho 'upgrade-auditor, version 0.1.0'\n")
    for f in fake.iterdir():
        f.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"}
    env.pop("INPUT_VERSION", None)
    r = subprocess.run(["bash", str(SCRIPT), "install"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert log.read_text().splitlines()[:3] == ["-m", "pip", "install"]
    assert log.read_text().splitlines()[-1] == str(ROOT) and "version 0.1.0" in r.stdout
    pinned = "git+https://git.internal/platform/eks-upgrade-auditor@4f1f702"
    r = subprocess.run(["bash", str(SCRIPT), "install"], env={**env, "INPUT_VERSION": pinned}, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and log.read_text().splitlines()[-1] == pinned


def test_action_on_the_demo_states_writes_junit_whatever_the_format(tmp_path: Path) -> None:
    demo = ROOT / "auditor" / "demo"
    r, out, summary = action(tmp_path, "run", command="compare", format="html",
                             args=f"{demo / 'before.json.gz'} {demo / 'after.json.gz'} --target-version 1.31")
    assert r.returncode == 0, r.stderr
    assert out["exit-code"] == "1" and out["passed"] == "false" and int(out["error"]) > 0, r.stdout + r.stderr
    assert out["junit-file"] == f"upgrade-audit/{FILE_NAMES['junit']}"
    assert {p.name for p in (tmp_path / "upgrade-audit").iterdir()} == set(FILE_NAMES.values())
    junit = (tmp_path / out["junit-file"]).read_text()
    assert "<testsuite" in junit and 'classname="service-lost-endpoints"' in junit
    assert summary == (tmp_path / "upgrade-audit" / "report.md").read_text()


# --- the example pipelines -------------------------------------------------------------------------------------

WORKFLOW = ROOT / "docs" / "github-workflow.yml"
GITLAB = ROOT / "docs" / "gitlab-ci.yml"
# Values for the workflow's expressions, as a run would have them: every expression it uses must be listed here.
EXPRESSIONS = {
    "inputs.target-version": "1.31",
    "inputs.rotating && format('--rotating {0}', inputs.rotating) || ''": "--rotating ng-blue",
    "inputs.follow-seconds": "5400",
    "vars.EKS_CLUSTER": "shop-prod",
    "vars.AWS_REGION": "eu-west-1",
    "vars.AUDIT_ROLE_ARN": "arn:aws:iam::123456789012:role/upgrade-audit",
    "hashFiles('accepted/report.json') != '' && 'accepted/report.json' || ''": "",
}


def expand(text: str) -> str:
    """Evaluate `${{ expr }}` the way a run would, from EXPRESSIONS (an unknown expression fails the test)."""
    out, rest = "", text
    while "${{" in rest:
        before, _, tail = rest.partition("${{")
        expr, _, rest = tail.partition("}}")
        assert expr.strip() in EXPRESSIONS, f"unknown expression in {WORKFLOW.name}: {expr.strip()}"
        out += before + EXPRESSIONS[expr.strip()]
    return out + rest


def parses(argv: list[str]) -> None:
    """Every flag exists and takes its value: click parses the command line without running it."""
    ctx = click.Context(main, info_name="upgrade-auditor")
    cmd = main.get_command(ctx, argv[0])
    assert cmd is not None, argv
    cmd.make_context(argv[0], argv[1:], parent=ctx)


def workflow_steps() -> list[tuple[str, int, dict]]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return [(name, i, step) for name, job in doc["jobs"].items() for i, step in enumerate(job["steps"])]


def test_github_workflow_installs_from_its_checkout_and_publishes_junit() -> None:
    doc = yaml.safe_load(WORKFLOW.read_text())
    assert "workflow_dispatch" in doc[True]  # YAML 1.1 reads the key `on` as true
    assert doc["permissions"]["checks"] == "write" and doc["permissions"]["id-token"] == "write"
    for name, job in doc["jobs"].items():
        steps = job["steps"]
        runs = [s.get("run", "") for s in steps]
        install = runs.index("python -m pip install --quiet .")
        first_use = next(i for i, r in enumerate(runs) if "upgrade-auditor " in r or steps[i].get("uses") == "./")
        assert steps[0]["uses"] == "actions/checkout@v4" and install < first_use, name
        ours = [(i, s) for i, s in enumerate(steps) if s.get("uses") == "./"]
        assert ours, name
        for i, step in ours:
            assert set(step["with"]["format"].split(",")) >= {"md", "json", "junit"}, name
            report = steps[i + 1]
            assert str(report["uses"]).startswith("mikepenz/action-junit-report@v"), name
            assert report["if"].startswith("always()"), name
            assert report["with"]["report_paths"] == f"${{{{ steps.{step['id']}.outputs.junit-file }}}}", name
    for _, _, step in workflow_steps():  # every third-party action pinned to a major version
        uses = str(step.get("uses", "./"))
        assert uses == "./" or "@v" in uses, uses


def test_github_workflow_commands_exist() -> None:
    commands = []
    for _, _, step in workflow_steps():
        if step.get("uses") == "./":
            commands.append([step["with"]["command"], *shlex.split(expand(step["with"]["args"]))])
        for line in str(step.get("run", "")).splitlines():
            if line.startswith("upgrade-auditor "):
                commands.append([os.path.expandvars(a) for a in shlex.split(line)[1:]])
    assert {c[0] for c in commands} == {"snapshot", "audit", "verify"}
    for argv in commands:
        parses(argv)


def test_github_workflow_audit_step_runs_on_the_demo_state(tmp_path: Path) -> None:
    """The pre-flight gate as the workflow writes it, through the action's script, on the demo's BEFORE state."""
    step = next(s for _, _, s in workflow_steps() if s.get("id") == "audit")
    (tmp_path / "before.json.gz").write_bytes((ROOT / "auditor" / "demo" / "before.json.gz").read_bytes())
    r, out, summary = action(tmp_path, "run", command=step["with"]["command"], args=expand(step["with"]["args"]),
                             baseline=expand(step["with"]["baseline"]), format=step["with"]["format"])
    assert r.returncode == 0, r.stderr
    # the demo's BEFORE has error findings for ng-blue's rotation (pdb-blocks-drain, service-rotation-unprotected)
    assert out["exit-code"] == "1" and out["junit-file"] == "upgrade-audit/report.junit.xml", r.stdout + r.stderr
    assert "pdb-blocks-drain" in (tmp_path / out["junit-file"]).read_text() and "pdb-blocks-drain" in summary


def gitlab_jobs() -> dict[str, dict]:
    doc = yaml.safe_load(GITLAB.read_text())
    return {k: v for k, v in doc.items() if isinstance(v, dict) and ("script" in v or k.startswith("."))}


def test_gitlab_jobs_install_from_the_checkout_and_report_junit() -> None:
    jobs = gitlab_jobs()
    base = jobs[".upgrade-auditor"]
    junit = f"upgrade-audit/{FILE_NAMES['junit']}"
    assert base["artifacts"]["reports"]["junit"] == junit and base["artifacts"]["when"] == "always"
    assert base["variables"]["UPGRADE_AUDITOR_SOURCE"] == "$CI_PROJECT_DIR"
    install = base["before_script"][0]
    assert install.startswith("pip install ") and '"$UPGRADE_AUDITOR_SOURCE"' in install
    # the AWS CLI writes the kubeconfig and its token command: installed with the tool, not expected in the image
    assert any(line.startswith("aws ") for line in base["before_script"]) and " awscli" in install
    for name, job in jobs.items():
        if job.get("artifacts"):
            assert job["artifacts"]["reports"]["junit"] == junit, name
        for line in job.get("script", []):
            if line.startswith("upgrade-auditor ") and line.split()[1] != "snapshot":
                formats = shlex.split(line)[shlex.split(line).index("--format") + 1]
                assert set(formats.split(",")) >= {"junit"}, name
                assert '--output-dir "$REPORTS"' in line, name


def test_gitlab_job_commands_exist() -> None:
    commands = [line for job in gitlab_jobs().values() for line in job.get("script", [])
                if line.startswith("upgrade-auditor ")]
    assert {c.split()[1] for c in commands} == {"snapshot", "audit", "verify", "compare"}
    for line in commands:
        parses([a if not a.startswith("$") else "x" for a in shlex.split(line)[1:]])


def test_gitlab_audit_job_script_runs_on_the_demo_state(tmp_path: Path) -> None:
    """The audit job's lines after its snapshot, run by a shell as the runner would, on the demo's BEFORE state:
    without a committed baseline, then with one (the accepted findings no longer fail the gate)."""
    script = gitlab_jobs()["audit-before-upgrade"]["script"]
    assert script[0].startswith("upgrade-auditor snapshot -o before.json.gz ")
    (tmp_path / "before.json.gz").write_bytes((ROOT / "auditor" / "demo" / "before.json.gz").read_bytes())
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "TARGET_VERSION": "1.31", "REPORTS": yaml.safe_load(GITLAB.read_text())[".upgrade-auditor"]["variables"][
               "REPORTS"], "NO_COLOR": "1"}

    def job() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-ec", "\n".join(script[1:])], cwd=tmp_path, env=env, capture_output=True,
                              text=True, timeout=120)

    r = job()
    assert r.returncode == 1, r.stdout + r.stderr  # the gate: error findings for the rotation to 1.31
    report = json.loads((tmp_path / "upgrade-audit" / "report.json").read_text())
    assert report["summary"]["error"] > 0 and (tmp_path / "upgrade-audit" / FILE_NAMES["junit"]).is_file()
    (tmp_path / "accepted").mkdir()
    (tmp_path / "upgrade-audit" / "report.json").rename(tmp_path / "accepted" / "report.json")
    r = job()
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads((tmp_path / "upgrade-audit" / "report.json").read_text())["summary"]["new"] == 0


def test_readme_shows_the_gate_for_both_ci_systems() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "uses: ./" in readme and "docs/github-workflow.yml" in readme and "docs/gitlab-ci.yml" in readme
    assert "junit: upgrade-audit/report.junit.xml" in readme and "--format html,md,json,junit" in readme
    assert "OWNER/" not in readme  # the placeholder of the action's old example
    for path in (WORKFLOW, GITLAB, ROOT / "action.yml", SCRIPT):  # not on PyPI: nothing installs it from there
        text = path.read_text()
        assert "OWNER/" not in text and "pip install eks-upgrade-auditor" not in text, path
        assert "install --quiet eks-upgrade-auditor" not in text and '"eks-upgrade-auditor"' not in text, path
