"""Deadlines that hold: whole-request timeouts against stalling and trickling servers, a retry budget in time,
signals that stop `snapshot` and `verify` within 2 s, and `verify --timeout` honoured mid-request."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from auditor.cli.main import main
from tests.apidouble import ApiDouble
from tests.waiting import wait_until

Snap = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str | Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KUBECONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "auditor", *map(str, args)], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("head", [False, True], ids=["body", "status-line-and-headers"])
def test_trickling_server_is_cut_at_the_request_timeout(api: ApiDouble, kubeconfig: Path, tmp_path: Path,
                                                        snap: Snap, head: bool) -> None:
    # One byte every 0.4 s: urllib3's per-recv timeout (1 s here) would never fire.
    api.add_fault(r"^/api/v1/nodes$", trickle=0.4, trickle_head=head, times=None)
    start = time.monotonic()
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig, "--request-timeout", "1s")
    elapsed = time.monotonic() - start
    assert result.exit_code == 3, result.output
    assert "Node: GET /api/v1/nodes: no complete response within 1s (gave up after 4 attempts" in result.stderr
    assert elapsed < 4 * 1.0 + 3, elapsed  # four attempts of one second each, millisecond backoffs
    assert json.loads((tmp_path / "s.json").read_text())["metadata"]["complete"] is False


def test_retry_budget_is_bounded_in_time(api: ApiDouble, kubeconfig: Path, tmp_path: Path, snap: Snap,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from auditor.collect import options

    monkeypatch.setattr(options, "DEFAULT_RETRY", options.RetryPolicy(attempts=100, base=0.01, cap=0.05,
                                                                      budget=2.5))
    api.add_fault(r"^/api/v1/services$", delay=30, times=None)  # never answers
    start = time.monotonic()
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig, "--request-timeout", "1")
    elapsed = time.monotonic() - start
    assert result.exit_code == 3, result.output
    assert "Service: GET /api/v1/services: no complete response within" in result.stderr
    assert "gave up after 3 attempts in 3s" in result.stderr or "gave up after 3 attempts in 2s" in result.stderr
    assert elapsed < 5, elapsed


@pytest.mark.parametrize("value", ["abc", "0", "-5s", "10x"])
def test_bad_request_timeout_is_a_usage_error(kubeconfig: Path, tmp_path: Path, snap: Snap, value: str) -> None:
    result = snap("-o", tmp_path / "s.json", "--kubeconfig", kubeconfig, "--request-timeout", value)
    assert result.exit_code == 2 and result.stderr.startswith("error: --request-timeout: "), result.output


def test_request_timeout_units(kubeconfig: Path) -> None:
    from auditor.cli.options import parse_duration

    assert [parse_duration(v) for v in ("60", "60s", "2m", "1m30s", "500ms", "1.5")] == [60, 60, 120, 90, 0.5, 1.5]


@pytest.mark.parametrize("fault", [{"delay": 120.0}, {"trickle": 2.0}, {"trickle": 2.0, "trickle_head": True}],
                         ids=["stall", "trickle", "trickle-headers"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signals_stop_snapshot_within_2s_whatever_the_server_does(api: ApiDouble, kubeconfig: Path,
                                                                 tmp_path: Path, fault: dict[str, Any],
                                                                 sig: signal.Signals) -> None:
    out = tmp_path / "snap.json"
    out.write_text('{"old": true}\n')
    held = api.add_fault(r"^/api/v1/pods$", times=None, **fault)
    proc = _cli("snapshot", "-o", out, "--kubeconfig", kubeconfig)
    assert wait_until(lambda: held.hits > 0, timeout=20)  # the double holds the Pod read: a worker waits on it
    assert proc.poll() is None
    start = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    elapsed = time.monotonic() - start
    assert elapsed < 2.0, elapsed
    assert proc.returncode == 130 and err.decode().strip() == "interrupted"
    assert out.read_text() == '{"old": true}\n'
    assert sorted(os.listdir(tmp_path)) == ["kubeconfig", "snap.json"]


@pytest.fixture
def before(objects: list[dict[str, Any]], tmp_path: Path) -> Path:
    """A BEFORE snapshot of the same cluster, taken from a healthy double."""
    path = tmp_path / "before.json"
    with ApiDouble(objects) as healthy:
        kc = healthy.write_kubeconfig(tmp_path / "kc-before")
        result = CliRunner().invoke(main, ["snapshot", "-o", str(path), "--kubeconfig", str(kc)])
        assert result.exit_code == 0, result.output
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_signals_stop_verify_within_2s_mid_request(api: ApiDouble, kubeconfig: Path, before: Path,
                                                   tmp_path: Path, sig: signal.Signals) -> None:
    held = api.add_fault(r"^/api/v1/pods$", trickle=2.0, times=None)
    proc = _cli("verify", "--before", before, "--kubeconfig", kubeconfig, "--output-dir", tmp_path / "out")
    assert wait_until(lambda: held.hits > 0, timeout=20)  # the double trickles the Pod list: a worker reads it
    assert proc.poll() is None
    start = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - start < 2.0
    assert proc.returncode == 130 and err.decode().strip().endswith("interrupted"), err


@pytest.mark.parametrize("fault", [{"delay": 120.0}, {"trickle": 2.0}], ids=["stall", "trickle"])
def test_verify_timeout_is_honoured_mid_request(api: ApiDouble, kubeconfig: Path, before: Path, tmp_path: Path,
                                                fault: dict[str, Any]) -> None:
    # The default --request-timeout (60 s) and retry budget would hold each poll for minutes.
    api.add_fault(r"^/api/v1/pods$", times=None, **fault)
    start = time.monotonic()
    proc = _cli("verify", "--before", before, "--kubeconfig", kubeconfig, "--output-dir", tmp_path / "out",
                "--timeout", "3")
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - start
    assert elapsed < 3 + 4, elapsed  # the deadline, plus interpreter start-up
    assert proc.returncode == 3, err
    text = err.decode()
    assert "time limit (3s)" in text and text.count("error: ") == 1, text  # the first lists never completed
    assert "Traceback" not in text
