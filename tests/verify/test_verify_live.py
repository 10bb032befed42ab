"""verify against the API double with real watches, around a scripted blue/green rotation (tests/rotation_script):
the outage of the Service that went down is measured within a second of the truth, the exit codes follow the
verdict, the recording replays to the same report."""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli.main import main
from tests import builders as b
from tests import rotation_script as rs
from tests.apidouble import ApiDouble
from tests.waiting import wait_until

Obj = dict[str, Any]


def _before_file(tmp_path: Path, before: list[Obj]) -> Path:
    path = tmp_path / "before.json"
    taken = datetime.now(timezone.utc) - timedelta(seconds=60)
    path.write_text(json.dumps(b.snapshot_doc(before, taken, label="before", server_version="v1.33.1-eks-b9b5b5e")))
    return path


def _config(tmp_path: Path, grace: int = 0, **extra: Any) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"grace-seconds: {grace}\nsettle-seconds: 0\n" + "".join(f"{k}: {v}\n" for k, v in extra.items()))
    return path


def _run(args: list[str]) -> tuple[int, str, str, float]:
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    return r.exit_code, r.stdout, r.stderr, time.time()


def _report(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def _started_after(api: ApiDouble, steps: list[tuple[float, list[Obj]]], before: list[Obj],
                   lead: float = 1.5) -> rs.Playback:
    """Play the steps once verify has listed (`lead` seconds in), the first step's delay included."""
    return rs.play(api, [(lead + steps[0][0], steps[0][1])] + steps[1:], before)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    ended: float  # time.time() when verify returned
    playback: rs.Playback
    out: Path


def _verify_around(tmp_path: Path, rot: rs.Rotation, *args: str, start: list[Obj] | None = None,
                   steps: list[tuple[float, list[Obj]]] | None = None, slack: float | None = 2.0,
                   deny_watch: str = "", fmt: str = "json") -> Run:
    """Serve `start` (default BEFORE), play `steps` (default the rotation's) once verify has listed, and run
    `verify --before BEFORE ARGS` against the double; with `slack`, `--follow` until the steps' end plus it."""
    start = rot.before if start is None else start
    steps = rot.steps if steps is None else steps
    with ApiDouble(start, version="1.33") as api:
        if deny_watch:
            api.deny_watch(deny_watch)
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        before = _before_file(tmp_path, rot.before)
        out = tmp_path / "out"
        follow = ["--follow", "--timeout", f"{1.5 + sum(d for d, _ in steps) + slack:.1f}"] if slack is not None \
            else []
        playback = _started_after(api, steps, start)
        code, stdout, stderr, ended = _run(["verify", "--before", str(before), "--kubeconfig", str(kubeconfig),
                                            "--config", str(_config(tmp_path)), "--output-dir", str(out),
                                            "--format", fmt, *follow, *args])
        assert playback.join(5)
    return Run(code, stdout, stderr, ended, playback, out)


def test_follow_reports_the_outage_within_a_second_of_the_truth(tmp_path: Path) -> None:
    rot = rs.rotation(services=3, replicas=2, pace=0.3, solo_gap=2.0)
    run = _verify_around(tmp_path, rot, "--record", str(tmp_path / "events.jsonl.gz"), slack=3.0,
                         fmt="json,md,html")
    code, stdout, stderr, playback, out = run.code, run.stdout, run.stderr, run.playback, run.out
    before = tmp_path / "before.json"
    assert code == 1, stdout + stderr  # converged, but the outage is an error finding: --fail-on error fails it
    report = _report(out)
    assert report["summary"]["converged"] is True
    truth = playback.outages()
    assert list(truth) == [rot.solo]
    [real] = truth[rot.solo]
    services = {(s["namespace"], s["name"]): s for s in report["timeline"]["services"]}
    solo = services[rot.solo]
    assert solo["readyBefore"] == 1 and solo["minReady"] == 0 and solo["readyAtEnd"] == 1
    assert len(solo["outages"]) == 1
    assert real.seconds is not None and abs(solo["downSeconds"] - real.seconds) < 1.0, (solo, real)
    others = [s for k, s in services.items() if k != rot.solo]
    assert all(s["downSeconds"] == 0 and s["minReady"] >= 1 for s in others)
    findings = [f for f in report["findings"] if f["rule"] == "service-outage"]
    assert [f["object"]["name"] for f in findings] == [rs.SOLO]
    assert set(findings[0]["evidence"]["nodesLeft"]) <= set(rot.blue)
    assert "verify --follow" in " ".join(report["notices"])
    # the recording replays to the same report
    code2, _, _, _ = _run(["replay", "--before", str(before), "--events", str(tmp_path / "events.jsonl.gz"),
                           "--config", str(_config(tmp_path)), "--output-dir", str(tmp_path / "replayed"),
                           "--format", "json"])
    again = _report(tmp_path / "replayed")
    assert code2 == code and again["timeline"] == report["timeline"]
    assert [(f["rule"], f["object"]) for f in again["findings"]] == [(f["rule"], f["object"])
                                                                     for f in report["findings"]]


def test_fail_on_outage_exits_1(tmp_path: Path) -> None:
    run = _verify_around(tmp_path, rs.rotation(services=1, replicas=2, pace=0.2, solo_gap=1.0), "--fail-on-outage")
    assert run.code == 1, run.stdout + run.stderr
    assert _report(run.out)["summary"]["converged"] is True  # converged, but an outage: exit 1


def test_without_follow_it_exits_within_seconds_of_converging(tmp_path: Path) -> None:
    """Started mid-rotation (solo down), grace 0: it ends soon after the last step, exit 0."""
    rot = rs.rotation(services=2, replicas=2, pace=0.3, solo_gap=1.5)
    # the first state in which solo is at zero ready endpoints: start there
    first_down = next(i for i, (_, objs) in enumerate(rot.steps) if rs.ready_endpoints(objs).get(rot.solo) == 0)
    run = _verify_around(tmp_path, rot, "--timeout", "60", start=rot.steps[first_down][1],
                         steps=rot.steps[first_down + 1:], slack=None)
    assert run.code == 1, run.stdout + run.stderr  # converged; solo's outage fails the gate (--fail-on error)
    assert run.ended - run.playback.applied[-1] < 4.0, (run.ended, run.playback.applied)
    report = _report(run.out)
    solo = next(s for s in report["timeline"]["services"] if s["name"] == rs.SOLO)
    assert solo["outages"] and solo["outages"][0]["to"] is not None


def test_a_slice_that_never_follows_is_not_converged_exit_1(tmp_path: Path) -> None:
    run = _verify_around(tmp_path, rs.rotation(services=2, replicas=2, pace=0.2, solo_gap=0.5, handmade=True))
    assert run.code == 1, run.stdout + run.stderr
    report = _report(run.out)
    assert report["summary"]["converged"] is False
    assert any(f["rule"] == "handmade-endpointslice-stale" and f["object"]["name"] == "app-0-manual"
               for f in report["findings"])


def test_sigterm_with_follow_writes_reports_and_exits_by_the_verdict(tmp_path: Path) -> None:
    """A pipeline stops a background `verify --follow` with SIGTERM: reports written, exit 0 (converged)."""
    import os
    import signal
    import subprocess
    import sys

    rot = rs.rotation(services=1, replicas=2, pace=0.2, solo_gap=0.5)
    with ApiDouble(rot.before, version="1.33") as api:
        kubeconfig = api.write_kubeconfig(tmp_path / "kubeconfig")
        before = _before_file(tmp_path, rot.before)
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "auditor", "verify", "--before", str(before),
                                 "--kubeconfig", str(kubeconfig), "--config", str(_config(tmp_path)),
                                 "--output-dir", str(out), "--format", "json", "--follow", "--timeout", "120"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.time() + 30
            assert proc.stderr is not None
            listed = threading.Event()
            progress: list[str] = []

            def watch_stderr() -> None:
                assert proc.stderr is not None
                for line in proc.stderr:
                    if line.startswith("verify 0:"):
                        listed.set()
                    clock = re.match(r"verify \d+:\d\d: (.*)", line)  # a progress line, not a note
                    if clock:
                        progress.append(clock.group(1).strip())

            threading.Thread(target=watch_stderr, daemon=True).start()
            assert listed.wait(deadline - time.time()), "verify never reported progress"
            playback = rs.play(api, rot.steps, rot.before)
            assert playback.join(10)
            # Stop it once it has seen the end of the rotation: every event is on its watches, and the last
            # progress line says converged (solo's outage came and went).
            assert wait_until(api.watches_caught_up, timeout=10)
            assert wait_until(lambda: progress[-1:] == ["converged"], timeout=10), progress
            os.kill(proc.pid, signal.SIGTERM)
            code = proc.wait(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 1  # by the verdict: converged, and the outage is an error finding
    assert _report(out)["summary"]["converged"] is True


@pytest.mark.parametrize("denied", ["pods"])
def test_watch_denied_falls_back_to_polling_said_once(tmp_path: Path, denied: str) -> None:
    # --fail-on never: solo's outage is not what this test is about, convergence is
    run = _verify_around(tmp_path, rs.rotation(services=1, replicas=2, pace=0.2, solo_gap=0.5), "--interval", "0.5",
                         "--fail-on", "never", deny_watch=denied)
    assert run.code == 0, run.stdout + run.stderr
    assert run.stderr.count("polling") == 1, run.stderr
