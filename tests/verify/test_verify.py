"""verify against the API double: converges when the slices follow, the deadline, faults at the start, bad inputs.

The scripted rotation (outage times, --follow, SIGTERM, recording and replay) is in test_verify_live.py, the
loop with a fake clock in test_follow.py."""
from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner, Result

from auditor.app.verify_end import SNAPSHOT_NAME
from auditor.cli.main import main
from auditor.state import snapshot
from tests.apidouble import ApiDouble
from tests.verify import verify_states

Run = Callable[..., Result]


def _grace0(tmp_path: Path) -> str:
    path = tmp_path / "grace0.yaml"
    path.write_text("grace-seconds: 0\nsettle-seconds: 0\n")
    return str(path)


def _polls(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("verify ")]


def _report(tmp_path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads((tmp_path / "out" / "report.json").read_text())
    return report


def _later(seconds: float, fn: Callable[[], None]) -> threading.Timer:
    t = threading.Timer(seconds, fn)
    t.daemon = True
    t.start()
    return t


def test_converges_once_the_slices_follow(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    _later(1.5, lambda: api.set_state(verify_states.converged_after()))
    result = run_verify("--timeout", "30", "--config", _grace0(tmp_path), "--record", tmp_path / "ev.jsonl")
    assert result.exit_code == 0, result.output
    lines = _polls(result)
    assert "1 Service(s) not converged: shop/cart" in lines[0]
    assert lines[-1].endswith(": converged")
    report = _report(tmp_path)
    assert report["mode"] == "verify" and report["summary"]["converged"] is True
    assert report["summary"]["error"] == 0
    state = snapshot.load(tmp_path / "out" / SNAPSHOT_NAME)  # the last state, next to the reports
    assert state.label == "after"
    assert {n.metadata.name for n in state.of("Node")} == {n["metadata"]["name"] for n in api.served("Node")}
    assert "PASS" in result.stdout and SNAPSHOT_NAME in result.stdout


def test_never_converges_exits_1_at_the_deadline(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    result = run_verify("--timeout", "2", "--config", _grace0(tmp_path))
    assert result.exit_code == 1, result.output
    assert all("not converged: shop/cart" in p for p in _polls(result)), _polls(result)
    report = _report(tmp_path)
    assert report["mode"] == "verify" and report["summary"]["converged"] is False
    rules = {f["rule"] for f in report["findings"]}
    assert {"endpoints-on-removed-node", "stale-endpointslice"} <= rules
    assert any("timed out" in n for n in report.get("notices", []))
    assert (tmp_path / "out" / "report.junit.xml").is_file()
    assert snapshot.load(tmp_path / "out" / SNAPSHOT_NAME).complete
    assert result.stdout.startswith("FAIL") and "not converged" in result.stdout.lower()


def test_api_errors_at_the_start_are_exit_3_in_one_line(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    api.add_fault(r"^/api/v1/pods$", status=500, times=None, message="etcdserver: leader changed")
    result = run_verify("--timeout", "30")
    assert result.exit_code == 3, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "pods" in errors[0] and "HTTP 500" in errors[0], result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "out" / "report.json").exists()


def test_forbidden_required_kind_is_exit_3_naming_the_permission(api: ApiDouble, run_verify: Run,
                                                                   tmp_path: Path) -> None:
    api.deny("endpointslices")
    result = run_verify("--timeout", "30")
    assert result.exit_code == 3, result.output
    assert "endpointslices" in result.stderr and "list endpointslices.discovery.k8s.io" in result.stderr


def test_dropped_watches_resume_and_the_verdict_follows(api: ApiDouble, run_verify: Run, tmp_path: Path) -> None:
    _later(1.0, api.drop_watches)
    _later(1.5, lambda: api.set_state(verify_states.converged_after()))
    result = run_verify("--timeout", "30", "--config", _grace0(tmp_path))
    assert result.exit_code == 0, result.output
    assert _report(tmp_path)["summary"]["converged"] is True


def test_cluster_never_readable_exits_3(before_file: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kubeconfig = tmp_path / "kubeconfig"
    with ApiDouble() as double:
        double.write_kubeconfig(kubeconfig)
    kubeconfig.write_text(kubeconfig.read_text().replace(double.url, f"https://127.0.0.1:{port}"))
    result = CliRunner().invoke(main, ["verify", "--before", str(before_file), "--kubeconfig", str(kubeconfig),
                                       "--output-dir", str(tmp_path / "out"), "--interval", "0.1",
                                       "--timeout", "0.5"], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    lines = result.stderr.splitlines()
    assert _polls(result) == []  # the first request fails fast: nothing was listed
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == [lines[-1]] and "cannot reach" in errors[0] and "connection refused" in errors[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.json").exists() and not (tmp_path / "out" / SNAPSHOT_NAME).exists()


def test_unknown_context_fails_at_once(before_file: Path, kubeconfig: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "--before", str(before_file), "--kubeconfig", str(kubeconfig),
                                       "--context", "nope", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 3 and "no context named 'nope'" in result.stderr, result.output
    assert _polls(result) == []


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"kind": "ConfigMap", "metadata": {"name": "x"}}'],
                         ids=["empty", "broken-json", "no-cluster-objects"])
def test_bad_before_file_is_exit_2(tmp_path: Path, content: bytes) -> None:
    before = tmp_path / "before.json"
    before.write_bytes(content)
    result = CliRunner().invoke(main, ["verify", "--before", str(before), "--kubeconfig", str(tmp_path / "none"),
                                       "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {before}: ") and result.stderr.count("\n") == 1, result.stderr




def test_sigterm_without_follow_writes_the_reports_and_exits_130(before_file: Path, kubeconfig: Path,
                                                                 tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "verify", "--before", str(before_file),
                             "--kubeconfig", str(kubeconfig), "--output-dir", str(out), "--format", "json",
                             "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        listed = proc.stderr.readline()
        assert listed.startswith("verify: listed ") and "objects" in listed, listed
        first = proc.stderr.readline()  # the first progress line: listed and evaluated
        assert first.startswith("verify 0:"), first
        os.kill(proc.pid, signal.SIGTERM)
        t0 = time.monotonic()
        code = proc.wait(timeout=15)
        assert time.monotonic() - t0 < 5
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["converged"] is False and any("interrupted" in n for n in report["notices"])
    assert (out / SNAPSHOT_NAME).exists()


def test_replay_refuses_what_is_not_a_recording(before_file: Path, tmp_path: Path) -> None:
    bad = tmp_path / "events.jsonl"
    bad.write_text('{"type": "ADDED", "kind": "Pod", "at": 1, "object": {}}\n')
    result = CliRunner().invoke(main, ["replay", "--before", str(before_file), "--events", str(bad),
                                       "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2 and "not a verify recording" in result.stderr, result.output
    result = CliRunner().invoke(main, ["replay", "--before", str(before_file), "--events", str(tmp_path / "nope"),
                                       "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2 and "no such file" in result.stderr
